# Appended to the settings.py that `django-admin startproject` generated: what a project adds to use the app.

INSTALLED_APPS += ["eventstore", "ledger"]  # noqa: F821

EVENTSTORE = {
    "BACKENDS": {"default": {"BACKEND": "eventstore.backends.django.DjangoBackend"}},
    "SNAPSHOT_EVERY": None,
}

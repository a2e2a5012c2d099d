"""The cost of one authenticated API request with a token and with HTTP Basic (issue 12, part 3).

    DJANGO_SECRET_KEY=x .venv/bin/python -m bench.auth_cost [requests]

In process, on a throwaway SQLite database: GET /api/carts/ (an empty list) through Django's test client,
the same user with a DRF token, then with Basic (enabled for this run only); median milliseconds per request.
"""

from __future__ import annotations

import base64
import os
import statistics
import sys
import tempfile
import time


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_API_BASIC_AUTH"] = "1"
    os.environ["DJANGO_THROTTLE_USER"] = "1000000/min"
    db = os.path.join(tempfile.mkdtemp(), "auth_cost.sqlite3")
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["DJANGO_CACHE_DIR"] = tempfile.mkdtemp()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="a-long-bench-password-1")
    token = APIClient(headers={"Authorization": f"Token {Token.objects.create(user=user).key}"})
    basic = APIClient(headers={"Authorization": "Basic " + base64.b64encode(b"bench:a-long-bench-password-1").decode()})
    for name, client in (("token", token), ("basic", basic)):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            assert client.get("/api/carts/").status_code == 200
            times.append((time.perf_counter() - start) * 1000)
        print(f"{name}: median {statistics.median(times):.1f} ms per request ({n} requests)")
    os.unlink(db)


if __name__ == "__main__":
    main()

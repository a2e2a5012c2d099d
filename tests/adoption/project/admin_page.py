"""Run with `manage.py shell -c`: fetch a stream's admin page with Django's test client, as the superuser.

The stream's uuid and the superuser's credentials come from the environment (ACCOUNT_UUID,
DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_PASSWORD). Prints one JSON line: the status codes and the
page's title, its state table and what the last event changed, for the test to check.
"""

import html
import json
import os
import re

from django.test import Client
from django.test.utils import setup_test_environment

ROW = r'<th scope="row" class="es-path">(.*?)</th>\s*<td class="es-value">(.*?)</td>'

setup_test_environment()  # lets the client's "testserver" host through ALLOWED_HOSTS, as in the tutorial
client = Client()
url = f"/admin/eventstore/stream/{os.environ['ACCOUNT_UUID']}/"
anonymous = client.get(url)
logged_in = client.login(
    username=os.environ["DJANGO_SUPERUSER_USERNAME"], password=os.environ["DJANGO_SUPERUSER_PASSWORD"]
)
page = client.get(url)
text = page.content.decode()


def cell_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def table(section_id: str) -> dict[str, str]:
    """Return the rows (part: value) of the page's section with this id: "state" or "changes"."""
    section = re.search(rf'<section[^>]*id="{section_id}"[^>]*>(.*?)</section>', text, re.S)
    if section is None:
        return {}
    rows = re.findall(ROW, section.group(1), re.S)
    return {cell_text(label): " ".join(cell_text(value).split()) for label, value in rows}


title = re.search(r"<title>(.*?)</title>", text, re.S)
print(
    json.dumps(
        {
            "url": url,
            "anonymous_status": anonymous.status_code,
            "anonymous_redirect": anonymous.get("Location", ""),
            "logged_in": logged_in,
            "status": page.status_code,
            "title": cell_text(title.group(1)) if title else None,
            "state": table("state"),
            "changes": table("changes"),
        }
    )
)

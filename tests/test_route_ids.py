"""Ids in URLs are primary keys: a number no key can hold is the route's 404, on PostgreSQL (whose integer keys stop
at 2**31 - 1, and to which SQLAlchemy casts bound ids) as on SQLite, never a 500. The router refuses it before any
view runs, so even a page that needs a sign-in answers 404 for it rather than sending the browser to sign in."""
from __future__ import annotations

import requests

from tests.live import LiveHub


def test_an_id_past_any_key_is_404_not_500(live: LiveHub) -> None:
    for path in ("/admin/users/{}", "/admin/orgs/{}", "/admin/tiles/{}", "/api/tiles/{}", "/tiles/{}"):
        for key in (2**31, 2**63, 10**30):
            answer = requests.get(live.url + path.format(key), timeout=10, allow_redirects=False)
            assert answer.status_code == 404, (path, key, answer.status_code)
    largest = requests.get(f"{live.url}/admin/users/{2**31 - 1}", timeout=10, allow_redirects=False)
    assert largest.status_code == 302  # a key in range reaches the view, which asks for a sign-in

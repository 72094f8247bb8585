"""Ids in URLs are primary keys: a number no key can hold is answered like any unknown id, on PostgreSQL (whose
integer keys stop at 2**31 - 1, and to which SQLAlchemy casts bound ids) as on SQLite, never a 500 (nor a 405)."""
from __future__ import annotations

from tests.admin.conftest import ADMIN, signed_in
from tests.live import LiveHub, csrf_token

UNKNOWN = 2**31 - 1  # the largest key: in range, and no row has it here


def test_an_id_past_any_key_is_answered_like_an_unknown_one(live: LiveHub) -> None:
    live.add_provider("google")
    admin = signed_in(live, ADMIN)
    token = csrf_token(admin.get("/admin/tiles").text)
    gets = ("/admin/users/{}", "/admin/orgs/{}", "/admin/tiles/{}", "/api/tiles/{}", "/tiles/{}")
    posts = ("/admin/tiles/{}", "/admin/tiles/{}/delete", "/admin/deliveries/{}/retry")
    for key in (2**31, 2**63, 10**30):
        for method, paths in (("GET", gets), ("POST", posts)):
            for path in paths:
                send = admin.get if method == "GET" else lambda url: admin.post(url, data={"csrf_token": token})
                huge, unknown = send(path.format(key)), send(path.format(UNKNOWN))
                assert huge.status_code == unknown.status_code < 500, (method, path, key, huge.status_code)
    assert admin.get(f"/api/tiles/{2**31}").status_code == 404

"""The admin tile forms over real HTTP with hostile values: CSRF still required, the error beside its field, a
400 rather than a 500, and nothing stored."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from hub.models import Organisation
from hub.models.tiles import Tile, TileAudience
from tests.admin.conftest import ADMIN, signed_in
from tests.live import Browser, LiveHub, csrf_token

FEED = "https://news.example.org/feed.xml"


@pytest.fixture
def admin(live: LiveHub) -> Browser:
    live.add_provider("google")
    return signed_in(live, ADMIN)


def _form(token: str, **fields: object) -> dict[str, object]:
    return {"csrf_token": token, "kind": "rss", "title": "Campus news", "address": FEED, "org_id": "",
            "refresh_seconds": "", "max_items": "10", **fields}


def _stored(live: LiveHub) -> tuple[int, int]:
    with live.context() as session:
        return (session.scalar(select(func.count()).select_from(Tile)) or 0,
                session.scalar(select(func.count()).select_from(TileAudience)) or 0)


def _field_error(page: str, field: str) -> str:
    """The message shown beside a field (the form macros' id="tile-<field>-error")."""
    match = re.search(rf'id="tile-{field}-error"[^>]*>([^<]*)<', page)
    assert match, f"no error shown for {field}"
    return match.group(1).strip()


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"title": "News\x00"}, "title", "Title must not contain control or text-direction characters (U+0000"),
    ({"title": "invoice\u202efdp.exe"}, "title", "(U+202E at character 8)"),
    ({"title": "t" * 100_000}, "title", "Title must be at most 200 characters"),
    ({"address": "https://user:pass@news.example.org/"}, "address", "must not carry a user name or password"),
    ({"address": "file:///etc/passwd"}, "address", "an absolute http(s) feed URL"),
    ({"address": "gopher://news.example.org/"}, "address", "an absolute http(s) feed URL"),
    ({"address": "https://xn--zz.example/"}, "address", "not a valid international domain name"),
    ({"address": "https://news.example.org/" + "a" * 5000}, "address", "at most 2000 characters, not 5025"),
    ({"refresh_seconds": "0"}, "refresh_seconds", "Refresh interval must be between 60 and 86400"),
    ({"refresh_seconds": "-5"}, "refresh_seconds", "Refresh interval is a whole number of seconds"),
    ({"refresh_seconds": "\u00b3"}, "refresh_seconds", "Refresh interval is a whole number of seconds"),
    ({"refresh_seconds": "9" * 30}, "refresh_seconds", "Refresh interval is a whole number of seconds"),
    ({"max_items": "0"}, "max_items", "Max items must be between 1 and 100, not 0"),
    ({"max_items": "101"}, "max_items", "Max items must be between 1 and 100, not 101"),
    ({"max_items": "\u00b2"}, "max_items", "Max items is a whole number"),
    ({"org_id": "99999999999999999999"}, "org_id", "Organisation: choose one from the list"),
    ({"org_id": "\u00b2"}, "org_id", "Organisation: choose one from the list"),
    ({"org_id": "424242"}, "org_id", "Organisation: no organisation with id 424242"),
    ({"audience": "99999999999999999999"}, "audience", "Audience: choose organisations from the list"),
    ({"audience": "1_0"}, "audience", "Audience: choose organisations from the list"),
    ({"audience": "424242"}, "audience", "Audience: no organisation with id 424242"),
])
def test_add_form_refuses_hostile_values_beside_the_field(live: LiveHub, admin: Browser, fields: dict[str, object],
                                                          field: str, message: str) -> None:
    token = csrf_token(admin.get("/admin/tiles").text)
    answer = admin.post("/admin/tiles", data=_form(token, **fields))
    assert answer.status_code == 400, answer.text[:300]
    assert message in _field_error(answer.text, field)
    assert _stored(live) == (0, 0)


def test_edit_form_refuses_hostile_values_and_changes_nothing(live: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/tiles").text)
    assert admin.post("/admin/tiles", data=_form(token)).status_code == 303
    with live.context() as session:
        tile = session.scalars(select(Tile)).one()
        tile_id, before = tile.id, (tile.title, tile.address, tile.max_items, tile.version)
    for fields in ({"title": "x\u2066y"}, {"max_items": "\u00b2"}, {"org_id": "99999999999999999999"},
                   {"address": "https://:pw@news.example.org/"}):
        page = admin.get(f"/admin/tiles/{tile_id}").text
        answer = admin.post(f"/admin/tiles/{tile_id}", data=_form(csrf_token(page), **fields, enabled="on"))
        assert answer.status_code == 400, (fields, answer.text[:300])
    with live.context() as session:
        tile = session.get(Tile, tile_id)
        assert (tile.title, tile.address, tile.max_items, tile.version) == before


def test_forms_still_need_csrf_whatever_the_values(live: LiveHub, admin: Browser) -> None:
    for fields in ({}, {"title": "News\x00"}, {"org_id": "99999999999999999999"}):
        answer = admin.post("/admin/tiles", data=_form("", **fields))
        assert answer.status_code == 400
    assert _stored(live) == (0, 0)


def test_preview_refuses_hostile_numbers_without_a_500(live: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/tiles").text)
    for fields in ({"max_items": "\u00b2"}, {"org_id": "99999999999999999999"}, {"refresh_seconds": "\u00b3"}):
        answer = admin.post("/admin/tiles/preview", data=_form(token, **fields))
        assert answer.status_code == 200 and "Content-Security-Policy" in answer.headers, fields
        assert "whole number" in answer.text or "choose one from the list" in answer.text
    assert _stored(live) == (0, 0)


@pytest.mark.parametrize("path", ["/admin/tiles/99999999999999999999", "/admin/tiles/9223372036854775808/delete",
                                  "/admin/tiles/99999999999999999999/fragment"])
def test_an_id_past_the_databases_integers_is_404(live: LiveHub, admin: Browser, path: str) -> None:
    assert admin.get(path).status_code == 404
    token = csrf_token(admin.get("/admin/tiles").text)
    if not path.endswith("/fragment"):
        assert admin.post(path, data=_form(token)).status_code == 404
    assert admin.post("/admin/tiles/99999999999999999999/refresh", data={"csrf_token": token}).status_code == 404


def test_an_idn_feed_url_is_stored_in_idna_form(live: LiveHub, admin: Browser) -> None:
    with live.context() as session:
        session.add(Organisation(name="Partners Inc"))
        session.commit()
    token = csrf_token(admin.get("/admin/tiles").text)
    answer = admin.post("/admin/tiles", data=_form(token, address="https://b\u00fccher.example/feed"))
    assert answer.status_code == 303
    with live.context() as session:
        assert session.scalars(select(Tile.address)).one() == "https://xn--bcher-kva.example/feed"

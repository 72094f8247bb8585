"""Tile configuration: checked against the kind's reader, stored with its audience; bad input stores nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.config import load_settings
from hub.errors import ConfigError
from hub.models import Tile, TileAudience, TileItem
from hub.tiles import store
from tests.live import LiveHub
from tests.tiles.world import Orgs


def test_create_list_and_audience(live: LiveHub, orgs: Orgs, json_kind: str) -> None:
    with live.context() as session:
        everyone = store.create_tile(session, kind="slack:channel", title="  Learning  ", address="#Learning",
                                     org_id=orgs.partners)
        partners_only = store.create_tile(session, kind=json_kind, title="News", address="http://127.0.0.1:1/f",
                                          audience=[orgs.partners, orgs.partners], refresh_seconds=600, max_items=3)
        session.commit()
        assert (everyone.title, everyone.address, everyone.refresh_seconds, everyone.max_items) == \
            ("Learning", "#learning", 300, 10)  # the reader normalised the channel
        assert everyone.next_refresh_at is None and everyone.version == 0 and not everyone.stale
        assert store.audience_of(session, partners_only.id) == [orgs.partners]
        assert [t.id for t in store.list_tiles(session)] == [everyone.id, partners_only.id]
        assert [t.id for t in store.visible_to(session, orgs.partners)] == [everyone.id, partners_only.id]
        assert [t.id for t in store.visible_to(session, orgs.staff)] == [everyone.id]
        assert [t.id for t in store.visible_to(session, None)] == [everyone.id]
        store.set_audience(session, partners_only.id, [orgs.staff])
        session.commit()
        assert [t.id for t in store.visible_to(session, orgs.staff)] == [everyone.id, partners_only.id]
        assert session.get(Tile, partners_only.id).version == 1  # who sees it changed: the API must notice
        store.set_enabled(session, everyone.id, False)
        session.commit()
        assert [t.id for t in store.visible_to(session, orgs.staff)] == [partners_only.id]


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"kind": "fax"}, "kind", "--kind 'fax' is not a tile kind; known:"),
    ({"title": "   "}, "title", "--title must not be empty"),
    ({"title": "t" * 201}, "title", "--title must be at most 200"),
    ({"address": ""}, "address", "--url must not be empty"),
    ({"address": "file:///etc/passwd"}, "address", "--url 'file:///etc/passwd': a test:json tile reads"),
    ({"refresh_seconds": 59}, "refresh_seconds", "--refresh must be between 60 and 86400"),
    ({"refresh_seconds": 86401}, "refresh_seconds", "--refresh must be between 60"),
    ({"max_items": 0}, "max_items", "--max-items must be between 1 and 100, not 0"),
    ({"max_items": 101}, "max_items", "--max-items must be between 1 and 100"),
    ({"org_id": 999999}, "org_id", "--org: no organisation with id 999999"),
    ({"audience": [999998]}, "audience", "--audience: no organisation with id 999998"),
])
def test_bad_input_names_the_field_and_stores_nothing(live: LiveHub, orgs: Orgs, json_kind: str,
                                                     fields: dict[str, object], field: str, message: str) -> None:
    refused(live, json_kind, fields, field, message)
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(TileAudience)) == 0


def refused(live: LiveHub, json_kind: str, fields: dict[str, object], field: str, message: str) -> str:
    """create_tile with a good tile changed by `fields` must name `field` (with `message`) and store nothing;
    returns the error's text."""
    good: dict[str, object] = {"kind": json_kind, "title": "News", "address": "http://127.0.0.1:1/f"}
    with live.context() as session:
        with pytest.raises(store.InvalidTile) as caught:
            store.create_tile(session, **{**good, **fields})  # type: ignore[arg-type]
        session.commit()  # whatever the session holds would be stored now
        assert caught.value.field == field and message in str(caught.value), str(caught.value)
        assert session.scalar(select(func.count()).select_from(Tile)) == 0
    return str(caught.value)


def test_a_kind_that_reads_through_a_connection_needs_an_org(live: LiveHub, orgs: Orgs) -> None:
    with live.context() as session:
        with pytest.raises(store.InvalidTile, match="--org is required for kind slack:channel: it reads through "
                                                    "the organisation's slack connection"):
            store.create_tile(session, kind="slack:channel", title="Wins", address="#wins")
        with pytest.raises(store.InvalidTile, match="--channel 'no spaces please'"):
            store.create_tile(session, kind="slack:channel", title="Wins", address="no spaces please",
                              org_id=orgs.partners)


def test_delete_takes_items_and_audience_along(live: LiveHub, orgs: Orgs, json_kind: str) -> None:
    with live.context() as session:
        tile = store.create_tile(session, kind=json_kind, title="News", address="http://127.0.0.1:1/f",
                                 audience=[orgs.staff])
        session.add(TileItem(tile_id=tile.id, remote_id="1", text="hello"))
        session.commit()
        store.delete_tile(session, tile.id)
        session.commit()
        for model in (Tile, TileAudience, TileItem):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        with pytest.raises(store.InvalidTile, match=f"no tile with id {tile.id}"):
            store.delete_tile(session, tile.id)


def test_feed_allow_hosts_setting(hub_env: dict[str, str]) -> None:
    env = {**hub_env, "HUB_BASE_URL": "http://127.0.0.1:5000"}
    assert load_settings(env).feed_allow_hosts == frozenset()
    settings = load_settings({**env, "HUB_FEED_ALLOW_HOSTS": " Feeds.Example.test, 127.0.0.1,[::1], "
                                                              "feeds.example.test:8080, [::1]:8443"})
    assert settings.feed_allow_hosts == frozenset({"feeds.example.test", "127.0.0.1", "::1",
                                                   "feeds.example.test:8080", "[::1]:8443"})
    for bad in ("http://feeds.example.test", "feeds.example.test:0", "feeds.example.test:x", "a/b",
                "under_score.test"):
        with pytest.raises(ConfigError, match="HUB_FEED_ALLOW_HOSTS must hold host names"):
            load_settings({**env, "HUB_FEED_ALLOW_HOSTS": bad})


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"title": "News\x00"}, "title", "--title must not contain control or text-direction characters (U+0000 at "
                                     "character 5)"),
    ({"title": "a\x1b[31mred"}, "title", "(U+001B at character 2)"),
    ({"title": "line\nbreak"}, "title", "(U+000A at character 5)"),
    ({"title": "invoice\u202efdp.exe"}, "title", "(U+202E at character 8)"),
    ({"title": "x\u2066y"}, "title", "(U+2066 at character 2)"),
    ({"title": "t" * 10_000_000}, "title", "--title must be at most 200 characters"),
    ({"address": "http://127.0.0.1:1/f\x07"}, "address", "--url must not contain control"),
    ({"address": "http://127.0.0.1:1/" + "a" * 5000}, "address", "--url must be at most 2000 characters, not 5019"),
    ({"max_items": -1}, "max_items", "--max-items must be between 1 and 100, not -1"),
    ({"refresh_seconds": 0}, "refresh_seconds", "--refresh must be between 60 and 86400"),
    ({"refresh_seconds": -60}, "refresh_seconds", "--refresh must be between 60 and 86400"),
    ({"refresh_seconds": 10**30}, "refresh_seconds", "--refresh must be between 60 and 86400"),
    ({"org_id": 10**20}, "org_id", "--org: no organisation with id 100000000000000000000"),
    ({"audience": [2**63]}, "audience", "--audience: no organisation with id 9223372036854775808"),
])
def test_hostile_values_name_the_field_and_store_nothing(live: LiveHub, orgs: Orgs, json_kind: str,
                                                         fields: dict[str, object], field: str, message: str) -> None:
    assert len(refused(live, json_kind, fields, field, message)) < 400  # a hostile value is never repeated whole


@pytest.mark.parametrize(("kind", "address", "message"), [
    ("rss", "https://user:pass@news.example.org/feed", "must not carry a user name or password"),
    ("rss", "https://:pass@news.example.org/feed", "must not carry a user name or password"),
    ("sharepoint:news", "https://:pw@contoso.sharepoint.com/sites/news", "--site must not carry a user name"),
    ("rss", "file:///etc/passwd", "an rss tile needs an absolute http(s) feed URL"),
    ("rss", "gopher://news.example.org/1", "an rss tile needs an absolute http(s) feed URL"),
    ("rss", "https://xn--zz.example/feed", "the host 'xn--zz.example' is not a valid international domain name"),
    ("rss", "https://-bad-\u00e9.example/feed", "is not a valid international domain name"),
    ("x:search", "#learning\x00", "--query must not contain control"),
])
def test_url_addresses_refused_before_anything_is_stored(live: LiveHub, orgs: Orgs, kind: str, address: str,
                                                         message: str) -> None:
    with live.context() as session:
        with pytest.raises(store.InvalidTile) as caught:
            store.create_tile(session, kind=kind, title="News", address=address, org_id=orgs.partners)
        session.commit()
        assert caught.value.field == "address" and message in str(caught.value), str(caught.value)
        assert session.scalar(select(func.count()).select_from(Tile)) == 0


@pytest.mark.parametrize(("address", "stored"), [
    ("https://b\u00fccher.example/feed", "https://xn--bcher-kva.example/feed"),
    ("https://B\u00dcCHER.example:8443/f?q=1", "https://xn--bcher-kva.example:8443/f?q=1"),
    ("https://\u0430pple.com/feed", "https://xn--pple-43d.com/feed"),  # a Cyrillic a shows as what it is
    ("https://xn--bcher-kva.example/feed", "https://xn--bcher-kva.example/feed"),
    ("https://news.example.org/feed", "https://news.example.org/feed"),
    ("https://[2001:db8::1]/feed", "https://[2001:db8::1]/feed"),
    ("https://Nouvelles.example.org/\u00e9cole", "https://Nouvelles.example.org/\u00e9cole"),  # ASCII host: as given
])
def test_url_hosts_are_stored_in_idna_form(live: LiveHub, address: str, stored: str) -> None:
    with live.context() as session:
        tile = store.create_tile(session, kind="rss", title="News", address=address)
        session.commit()
        assert session.get(Tile, tile.id).address == stored


def test_ids_beyond_the_databases_integers_are_unknown(live: LiveHub) -> None:
    with live.context() as session:
        for tile_id in (0, -1, 2**63, 10**20):
            with pytest.raises(store.InvalidTile, match=f"no tile with id {tile_id}"):
                store.delete_tile(session, tile_id)

"""`hub tile add/list/remove/refresh`, run as an admin would, against the live hub's database and sandboxes."""
from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from hub import redis_conn
from hub.cli import main
from hub.models import Tile, TileAudience
from hub.tiles import cache
from tests.clock import movable_clock
from tests.live import LiveHub
from tests.tiles.world import JsonFeed, Orgs


def run(live: LiveHub, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=live.env)


def count(live: LiveHub) -> tuple[int, int]:
    with live.context() as session:
        return (session.scalar(select(func.count()).select_from(Tile)) or 0,
                session.scalar(select(func.count()).select_from(TileAudience)) or 0)


def test_add_list_refresh_remove(live: LiveHub, orgs: Orgs, feed: JsonFeed, json_kind: str) -> None:
    added = run(live, "tile", "add", "--kind", "slack:channel", "--title", "Learning", "--channel", "#Learning",
                "--org", "Partners Inc", "--audience", "Partners Inc", "--audience", "Staff", "--refresh", "120")
    assert added.exit_code == 0, added.output
    slack_id = int(added.output.split()[1].rstrip(":"))
    assert "slack:channel #learning (every 120 s, 10 items, for Partners Inc, Staff)" in added.output
    feed.add(1, "hello <b>world</b>")
    added = run(live, "tile", "add", "--kind", json_kind, "--title", "News", "--url", feed.url, "--max-items", "5")
    assert added.exit_code == 0, added.output
    json_id = int(added.output.split()[1].rstrip(":"))
    refreshed = run(live, "tile", "refresh", str(json_id))
    assert refreshed.exit_code == 0 and refreshed.output.startswith(f"tile {json_id}: refreshed, 1 new item; "
                                                                    "next refresh "), refreshed.output
    failed = run(live, "tile", "refresh", str(slack_id))  # the organisation has no Slack connection yet
    assert failed.exit_code == 1 and "failed" in failed.output
    assert "connect slack for organisation 'Partners Inc'" in failed.output and "Traceback" not in failed.output
    listed = {row["id"]: row for row in json.loads(run(live, "tile", "list", "--json").output)}
    assert listed[slack_id] | {"next_refresh_at": None, "error_at": None} == {
        "id": slack_id, "kind": "slack:channel", "title": "Learning", "address": "#learning", "org": "Partners Inc",
        "audience": ["Partners Inc", "Staff"], "refresh_seconds": 120, "max_items": 10, "enabled": True,
        "version": 1, "stale": True, "last_error": listed[slack_id]["last_error"], "fetched_at": None,
        "next_refresh_at": None, "error_at": None}
    assert listed[json_id]["audience"] == "*" and listed[json_id]["stale"] is False
    assert listed[json_id]["fetched_at"] is not None and listed[json_id]["version"] == 1
    table = run(live, "tile", "list")
    assert table.exit_code == 0 and "#learning" in table.output and "connect slack for organisation" in table.output
    assert run(live, "tile", "remove", str(slack_id)).exit_code == 0
    assert [row["id"] for row in json.loads(run(live, "tile", "list", "--json").output)] == [json_id]
    gone = run(live, "tile", "remove", str(slack_id))
    assert gone.exit_code == 1 and f"no tile with id {slack_id}" in gone.output
    assert run(live, "tile", "refresh", "424242").output.strip().endswith("no tile with id 424242")


@pytest.mark.parametrize(("args", "message"), [
    (["--kind", "fax", "--query", "x"], "'fax' is not a tile kind; one of:"),
    (["--kind", "slack:channel", "--org", "Partners Inc"], "kind slack:channel takes exactly one --channel"),
    (["--kind", "slack:channel", "--org", "Partners Inc", "--url", "https://x.test"],
     "kind slack:channel takes exactly one --channel, not --url"),
    (["--kind", "slack:channel", "--org", "Partners Inc", "--channel", "#a", "--group", "1"],
     "takes exactly one --channel, not --channel --group"),
    (["--kind", "slack:channel", "--org", "Partners Inc", "--channel", "#a b"], "--channel '#a b': "),
    (["--kind", "slack:channel", "--channel", "#a"], "--org is required for kind slack:channel"),
    (["--kind", "slack:channel", "--channel", "#a", "--org", "Nope"], "--org: no organisation called 'Nope'"),
    (["--kind", "slack:channel", "--channel", "#a", "--org", "Partners Inc", "--audience", "Nobody"],
     "--audience: no organisation called 'Nobody'"),
    (["--kind", "slack:channel", "--channel", "#a", "--org", "Partners Inc", "--refresh", "10"],
     "--refresh must be between 60 and 86400 seconds for kind slack:channel, not 10"),
    (["--kind", "slack:channel", "--channel", "#a", "--org", "Partners Inc", "--max-items", "0"],
     "--max-items must be between 1 and 100, not 0"),
    (["--kind", "slack:channel", "--channel", "#a", "--org", "Partners Inc", "--title", " "],
     "--title must not be empty"),
])
def test_add_refuses_bad_input_naming_the_field(live: LiveHub, orgs: Orgs, args: list[str], message: str) -> None:
    full = ["tile", "add", *(["--title", "T"] if "--title" not in args else []), *args]
    result = run(live, *full)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output, result.output
    assert count(live) == (0, 0)


RSS = ["--kind", "rss", "--url", "https://news.example.org/feed.xml"]


@pytest.mark.parametrize(("args", "message"), [
    (["--title", "t" * 10_000_000, *RSS], "--title must be at most 200 characters"),
    (["--title", "News\x00", *RSS], "--title must not contain control or text-direction characters (U+0000"),
    (["--title", "a\x1b[2Jb", *RSS], "(U+001B at character 2)"),
    (["--title", "two\nlines", *RSS], "(U+000A at character 4)"),
    (["--title", "invoice\u202efdp.exe", *RSS], "(U+202E at character 8)"),
    (["--title", "T", "--kind", "rss", "--url", "https://user:pass@news.example.org/"],
     "--url must not carry a user name or password"),
    (["--title", "T", "--kind", "rss", "--url", "file:///etc/passwd"], "an absolute http(s) feed URL"),
    (["--title", "T", "--kind", "rss", "--url", "gopher://news.example.org/"], "an absolute http(s) feed URL"),
    (["--title", "T", "--kind", "rss", "--url", "https://xn--zz.example/"], "not a valid international domain"),
    (["--title", "T", "--kind", "rss", "--url", "https://news.example.org/" + "a" * 5000],
     "--url must be at most 2000 characters, not 5025"),
    (["--title", "T", *RSS, "--refresh", "0"], "--refresh must be between 60 and 86400 seconds for kind rss, not 0"),
    (["--title", "T", *RSS, "--refresh", "-5"], "--refresh must be between 60 and 86400 seconds for kind rss, not -5"),
    (["--title", "T", *RSS, "--refresh", "9" * 30], "--refresh must be between 60 and 86400"),
    (["--title", "T", *RSS, "--max-items", "0"], "--max-items must be between 1 and 100, not 0"),
    (["--title", "T", *RSS, "--max-items", "101"], "--max-items must be between 1 and 100, not 101"),
    (["--title", "T", *RSS, "--org", "Nope"], "--org: no organisation called 'Nope'"),
    (["--title", "T", *RSS, "--audience", "Staff", "--audience", "Nobody"],
     "--audience: no organisation called 'Nobody'"),
])
def test_add_refuses_hostile_values_naming_the_field(live: LiveHub, orgs: Orgs, args: list[str],
                                                     message: str) -> None:
    result = run(live, "tile", "add", *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, \
        result.output[:500]
    assert len(result.output) < 500  # the hostile value is not printed back whole
    assert count(live) == (0, 0)


def test_add_stores_an_idn_host_in_idna_form(live: LiveHub) -> None:
    added = run(live, "tile", "add", "--kind", "rss", "--title", "T", "--url", "https://b\u00fccher.example/feed")
    assert added.exit_code == 0 and "rss https://xn--bcher-kva.example/feed" in added.output, added.output


def test_list_json_keeps_non_ascii_titles(live: LiveHub) -> None:
    title = "Nouvelles \u2014 \u00e9cole \u2603 \u05d7\u05d3\u05e9\u05d5\u05ea \U0001f4f0"
    assert run(live, "tile", "add", "--title", title, *RSS).exit_code == 0
    listed = run(live, "tile", "list", "--json")
    assert listed.exit_code == 0
    assert [row["title"] for row in json.loads(listed.output)] == [title]


@pytest.mark.parametrize("tile_id", ["424242", "0", "99999999999999999999", "9223372036854775808"])
def test_remove_and_refresh_of_an_unknown_id_exit_1_with_a_clear_error(live: LiveHub, tile_id: str) -> None:
    for command in ("remove", "refresh"):
        result = run(live, "tile", command, tile_id)
        assert result.exit_code == 1 and result.output.strip() == f"Error: no tile with id {tile_id}", \
            (command, result.output, result.exception)
    assert run(live, "tile", "remove", "abc").exit_code == 2  # not a number at all: click's usage error


def test_remove_stops_serving_at_once(live: LiveHub) -> None:
    added = run(live, "tile", "add", "--title", "Soon gone", *RSS)
    tile_id = int(added.output.split()[1].rstrip(":"))
    http = requests.Session()
    http.trust_env = False
    assert http.get(f"{live.url}/api/tiles/{tile_id}").status_code == 200  # the pointer is now cached
    assert run(live, "tile", "remove", str(tile_id)).exit_code == 0
    with live.app.app_context():
        assert redis_conn.get().get(cache.pointer_key(tile_id)) is None
    movable_clock(live.app).advance(seconds=cache.LOCAL_TTL + 0.1)  # past the web process's one-second copy
    assert http.get(f"{live.url}/api/tiles/{tile_id}").status_code == 404

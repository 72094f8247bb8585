"""X tiles through tweepy against the X sandbox over HTTP: search and account reads, since_id, X's errors."""
from __future__ import annotations

import json
import time
from datetime import UTC

import pytest

from providers import registry
from providers.base import AuthExpired, FeedSource, Permanent, RateLimited
from providers.posting_sandbox import issue_token
from providers.x.feed import XSearchReader, XUserReader
from tests.providers.posting import X_USER, PostingHosts

READ_SCOPE = "tweet.read users.read offline.access"


def source(hosts: PostingHosts, address: str, max_items: int = 10, scope: str = READ_SCOPE) -> FeedSource:
    return FeedSource(address, {"access_token": issue_token(hosts.sandboxes["x"], X_USER, scope)}, max_items)


def test_search_first_fetch_is_newest_first_with_author_link_and_time(hosts: PostingHosts) -> None:
    reader = registry.reader("x:search", hosts.settings("x"))
    page = reader.fetch(source(hosts, "#learning"), None)
    assert [i.text for i in page.items] == [
        "New in the Open edX catalog: accessible course design, free #learning",
        "The Open edX conference call for talks closes Friday #learning #edtech",
        "Moodle 5.1 is out: a new course index and faster quizzes #learning",
    ]
    first = page.items[0]
    assert first.author == "Open edX"
    assert first.avatar_url == "https://pbs.twimg.com/profile_images/1500000000000000001/openedx_normal.png"
    assert first.link == f"https://x.com/openedx/status/{first.remote_id}"
    assert first.published_at is not None and first.published_at.tzinfo is not None
    assert first.published_at.astimezone(UTC).isoformat() == "2026-09-03T14:15:00+00:00"
    assert page.cursor == first.remote_id and not page.not_modified
    path, args = hosts.sandboxes["x"].reads[-1]
    assert path.endswith("/2/tweets/search/recent")
    assert "since_id" not in args and args["max_results"] == "10" and args["expansions"] == "author_id"
    assert set(args["user.fields"].split(",")) == {"name", "username", "profile_image_url"}


def test_search_second_fetch_sends_since_id_and_returns_only_new_posts(hosts: PostingHosts) -> None:
    reader, sandbox = XSearchReader(hosts.settings("x")), hosts.sandboxes["x"]
    src = source(hosts, "#learning")
    first = reader.fetch(src, None)
    empty = reader.fetch(src, first.cursor)
    assert empty.items == () and empty.not_modified and empty.cursor == first.cursor
    assert sandbox.reads[-1][1]["since_id"] == first.cursor
    new_id = sandbox.add_tweet("moodle", "Moodle Academy: a free #learning path for admins")
    sandbox.add_tweet("moodle", "Nothing to see here")  # does not match the query
    second = reader.fetch(src, first.cursor)
    assert [i.remote_id for i in second.items] == [new_id] and second.cursor == new_id
    assert second.items[0].author == "Moodle"


def test_search_asks_x_for_at_least_ten_but_keeps_max_items(hosts: PostingHosts) -> None:
    page = XSearchReader(hosts.settings("x")).fetch(source(hosts, "#learning", max_items=2), None)
    assert len(page.items) == 2
    assert hosts.sandboxes["x"].reads[-1][1]["max_results"] == "10"  # X refuses fewer for search


def test_search_query_words_narrow_the_results(hosts: PostingHosts) -> None:
    page = XSearchReader(hosts.settings("x")).fetch(source(hosts, "from:openedx -conference"), None)
    assert [i.text for i in page.items] == ["New in the Open edX catalog: accessible course design, free #learning"]


def test_user_tile_resolves_the_username_once_and_reads_incrementally(hosts: PostingHosts) -> None:
    reader, sandbox = registry.reader("x:user", hosts.settings("x")), hosts.sandboxes["x"]
    src = source(hosts, "@OpenEdX")
    first = reader.fetch(src, None)
    assert [i.author for i in first.items] == ["Open edX", "Open edX"]
    assert all(i.link and i.link.startswith("https://x.com/openedx/status/") for i in first.items)
    paths = [p for p, _ in sandbox.reads]
    assert paths[0].endswith("/2/users/by/username/OpenEdX")
    assert paths[1].endswith("/2/users/1500000000000000001/tweets")
    state = json.loads(first.cursor or "")
    assert state == {"user": "openedx", "id": "1500000000000000001", "since_id": first.items[0].remote_id}
    new_id = sandbox.add_tweet("openedx", "Office hours today")
    second = reader.fetch(src, first.cursor)
    assert [i.remote_id for i in second.items] == [new_id]
    assert len(sandbox.reads) == 3  # no second username lookup: the id rode in the cursor
    assert sandbox.reads[-1][1]["since_id"] == first.items[0].remote_id


def test_user_tile_cursor_of_another_username_is_ignored(hosts: PostingHosts) -> None:
    reader = XUserReader(hosts.settings("x"))
    cursor = json.dumps({"user": "moodle", "id": "1500000000000000002", "since_id": "1861000000000000003"})
    page = reader.fetch(source(hosts, "openedx"), cursor)
    assert len(page.items) == 2 and all(i.author == "Open edX" for i in page.items)


def test_unknown_account_is_permanent(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="no account @nobody_here"):
        XUserReader(hosts.settings("x")).fetch(source(hosts, "nobody_here"), None)


def test_rate_limit_waits_until_xs_reset(hosts: PostingHosts) -> None:
    reset = int(time.time()) + 420
    hosts.sandboxes["x"].read_faults.push(429, {"title": "Too Many Requests", "status": 429},
                                          {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    with pytest.raises(RateLimited) as caught:
        XSearchReader(hosts.settings("x")).fetch(source(hosts, "#learning"), None)
    assert 410 <= caught.value.retry_after <= 420
    assert XSearchReader(hosts.settings("x")).fetch(source(hosts, "#learning"), None).items  # nothing held


def test_unknown_or_expired_token_is_auth_expired(hosts: PostingHosts) -> None:
    reader = XSearchReader(hosts.settings("x"))
    with pytest.raises(AuthExpired):
        reader.fetch(FeedSource("#learning", {"access_token": "not-a-token"}), None)
    src = source(hosts, "#learning")
    hosts.sandboxes["x"].expire(src.tokens["access_token"])
    with pytest.raises(AuthExpired):
        reader.fetch(src, None)
    with pytest.raises(AuthExpired, match="no access_token"):
        reader.fetch(FeedSource("#learning", {}), None)


def test_token_without_read_scopes_is_permanent(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="403"):
        XSearchReader(hosts.settings("x")).fetch(source(hosts, "#learning", scope="tweet.write"), None)


def test_expired_tokens_refresh_through_the_x_token_endpoint(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["x"]
    sandbox.register_client("hub-x", "x-secret")
    tokens = sandbox.issue_tokens("hub-x", X_USER, scope="tweet.read users.read offline.access")
    settings = hosts.settings("x", client_id="hub-x", client_secret="x-secret", auth_base=hosts.base("x"))
    fresh = XSearchReader(settings).refresh(tokens)
    assert fresh["access_token"] != tokens["access_token"] and sandbox.refresh_hits == 1
    assert XSearchReader(settings).fetch(FeedSource("#learning", fresh), None).items


@pytest.mark.parametrize(("cls", "address", "message"), [
    (XSearchReader, "   ", "needs a search query"),
    (XSearchReader, "a" * 513, "at most 512"),
    (XUserReader, "@", "needs an X username"),
    (XUserReader, "has space", "needs an X username"),
    (XUserReader, "much_too_long_username", "needs an X username"),
])
def test_check_address_refuses_with_a_clear_message(cls: type, address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls.check_address(address)


def test_check_address_normalises() -> None:
    assert XUserReader.check_address(" @openedx ") == "openedx"
    assert XSearchReader.check_address("  #learning   -is:retweet ") == "#learning -is:retweet"
    assert (XSearchReader.connection_kind, XSearchReader.address_label, XUserReader.address_label) == \
        ("x", "query", "user")

"""Yammer tiles against the Microsoft sandbox's Yammer REST v1 over HTTP, with msal redeeming the connection."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers import registry
from providers.base import AuthExpired, FeedSource, Permanent, Post, RateLimited, Target, Transient
from providers.yammer.feed import YammerGroupReader
from tests.providers.posting import MS_CLIENT, PostingHosts

NEWS = "456789"  # the sandbox's "Learning news", seeded with two messages


def reader(hosts: PostingHosts) -> YammerGroupReader:
    return registry.reader("yammer:group", hosts.settings("yammer"))  # type: ignore[return-value]


def source(hosts: PostingHosts, group: str = NEWS, max_items: int = 10) -> FeedSource:
    refresh = hosts.sandboxes["microsoft"].issue_refresh_token(MS_CLIENT, "contoso-megan")
    return FeedSource(group, {"refresh_token": refresh}, max_items)


def test_first_fetch_is_newest_first_with_sender_link_html_and_time(hosts: PostingHosts) -> None:
    page = reader(hosts).fetch(source(hosts), None)
    assert [i.text for i in page.items] == ["This week: Security Basics and Intro to SQL. Enrol in the LMS.",
                                            "Welcome to Learning news: new courses every Monday."]
    first = page.items[0]
    assert (first.author, first.avatar_url) == (
        "Lee Gu", "https://mugshot0.assets-yammer.com/mugshot/images/48x48/leeg.png")
    assert first.link == f"https://www.yammer.com/contoso.example/messages/{first.remote_id}"
    assert first.html and '<a href="https://lms.example.edu/catalog">' in first.html  # untrusted: the hub sanitizes
    assert first.published_at == datetime(2026, 9, 8, 8, 0, tzinfo=UTC)
    assert page.cursor == first.remote_id
    query = hosts.sandboxes["microsoft"].yammer.reads[-1]
    assert query["threaded"] == "true" and "newer_than" not in query


def test_second_fetch_sends_newer_than_and_returns_only_new_messages(hosts: PostingHosts) -> None:
    yammer, r, src = hosts.sandboxes["microsoft"].yammer, reader(hosts), source(hosts)
    first = r.fetch(src, None)
    quiet = r.fetch(src, first.cursor)
    assert quiet.items == () and quiet.not_modified and quiet.cursor == first.cursor
    assert yammer.reads[-1]["newer_than"] == first.cursor
    new_id = yammer.add_message(NEWS, "Lunch and learn moved to Friday")
    second = r.fetch(src, first.cursor)
    assert [i.remote_id for i in second.items] == [str(new_id)] and second.cursor == str(new_id)


def test_a_message_the_yammer_publisher_posted_is_read_back(hosts: PostingHosts) -> None:
    src = source(hosts, "123456")
    hosts.publisher("yammer").publish(Target("123456", src.tokens), Post("Megan earned the Cloud badge", None, None,
                                                                         None, "hub-d7"))
    [item] = reader(hosts).fetch(src, None).items
    assert item.text == "Megan earned the Cloud badge\n\nhub-d7" and item.author == "Megan Bowen"


def test_max_items_is_the_limit_asked_for(hosts: PostingHosts) -> None:
    page = reader(hosts).fetch(source(hosts, max_items=1), None)
    assert len(page.items) == 1 and hosts.sandboxes["microsoft"].yammer.reads[-1]["limit"] == "1"


def test_429_waits_the_retry_after_or_the_30_second_window(hosts: PostingHosts) -> None:
    faults = hosts.sandboxes["microsoft"].yammer.posting_faults
    faults.push(429, {"response": {"message": "Rate limited due to excessive requests.", "code": 33}},
                {"Retry-After": "12"})
    with pytest.raises(RateLimited) as caught:
        reader(hosts).fetch(source(hosts), None)
    assert caught.value.retry_after == 12
    faults.push(429, {"response": {"message": "Rate limited due to excessive requests.", "code": 33}})
    with pytest.raises(RateLimited) as caught:
        reader(hosts).fetch(source(hosts), None)
    assert caught.value.retry_after == 30


def test_the_sandboxs_own_window_limits_reads_too(hosts: PostingHosts) -> None:
    hosts.sandboxes["microsoft"].yammer.message_limit = 1
    r, src = reader(hosts), source(hosts)
    r.fetch(src, None)
    with pytest.raises(RateLimited) as caught:
        r.fetch(src, None)
    assert 0 < caught.value.retry_after <= 30


def test_unknown_token_and_revoked_connection_are_auth_expired(hosts: PostingHosts) -> None:
    with pytest.raises(AuthExpired, match="invalid_grant"):
        reader(hosts).fetch(FeedSource(NEWS, {"refresh_token": "revoked"}), None)
    with pytest.raises(AuthExpired, match="no refresh_token"):
        reader(hosts).fetch(FeedSource(NEWS, {}), None)
    hosts.sandboxes["microsoft"].yammer.posting_faults.push(401, {"response": {"message": "Token not found."}})
    with pytest.raises(AuthExpired, match="401"):
        reader(hosts).fetch(source(hosts), None)


def test_group_of_another_network_and_server_errors(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="no such group"):
        reader(hosts).fetch(source(hosts, "345678"), None)  # Fabrikam's, and Megan is Contoso's
    hosts.sandboxes["microsoft"].yammer.posting_faults.push(503)
    with pytest.raises(Transient):
        reader(hosts).fetch(source(hosts), None)


def test_rotated_refresh_token_is_handed_back(hosts: PostingHosts) -> None:
    seen: list[dict[str, str]] = []
    src = source(hosts)
    rotating = FeedSource(src.address, src.tokens, on_rotated=lambda used, fresh: seen.append(dict(fresh)))
    reader(hosts).fetch(rotating, None)
    assert len(seen) == 1 and seen[0]["refresh_token"] != src.tokens["refresh_token"]


@pytest.mark.parametrize("address", ["", "learning-news", "12a", "eyJfdHlwZSI6IlVzZXIiLCJpZCI6IjEifQ"])
def test_check_address_refuses_with_a_clear_message(address: str) -> None:
    with pytest.raises(ValueError, match="numeric group id"):
        YammerGroupReader.check_address(address)


def test_check_address_accepts_v1_and_viva_engage_ids() -> None:
    assert YammerGroupReader.check_address(" 456789 ") == "456789"
    assert YammerGroupReader.check_address("eyJfdHlwZSI6Ikdyb3VwIiwiaWQiOiIxMjM0NTYifQ") == "123456"
    assert (YammerGroupReader.min_refresh_seconds, YammerGroupReader.connection_kind) == (60, "yammer")

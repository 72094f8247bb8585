"""Slack tiles through slack_sdk against the Slack sandbox over HTTP: public channels only, `oldest`, errors."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from providers import registry
from providers.base import AuthExpired, FeedSource, Permanent, RateLimited, Transient
from providers.slack.feed import SlackChannelReader, plain_text
from tests.providers.posting import PostingHosts


def reader(hosts: PostingHosts) -> SlackChannelReader:
    return registry.reader("slack:channel", hosts.settings("slack"))  # type: ignore[return-value]


def source(hosts: PostingHosts, address: str = "#learning", max_items: int = 10) -> FeedSource:
    return FeedSource(address, {"access_token": hosts.sandboxes["slack"].install_bot()}, max_items)


def test_first_fetch_is_newest_first_with_author_avatar_permalink_and_time(hosts: PostingHosts) -> None:
    page = reader(hosts).fetch(source(hosts), None)
    assert [i.text for i in page.items] == [
        "Who else is taking Security Basics this month? <3 the labs",
        "Lunch and learn on Thursday: Intro to SQL",
    ]
    first = page.items[0]
    assert first.remote_id == "1756807200.000200"
    assert (first.author, first.avatar_url) == ("Sam", "https://secure.gravatar.com/avatar/sam.png")
    assert first.link == "https://partnerco.slack.com/archives/C0LEARNING1/p1756807200000200"
    assert first.published_at == datetime.fromtimestamp(1756807200.0002, tz=UTC)
    reads = [method for method, _ in hosts.sandboxes["slack"].reads]
    assert reads.count("users.info") == 1  # one author, looked up once
    assert "oldest" not in dict(hosts.sandboxes["slack"].reads)["conversations.history"]


def test_second_fetch_sends_oldest_and_returns_only_new_messages(hosts: PostingHosts) -> None:
    sandbox, r, src = hosts.sandboxes["slack"], reader(hosts), source(hosts)
    first = r.fetch(src, None)
    assert json.loads(first.cursor or "")["oldest"] == "1756807200.000200"
    quiet = r.fetch(src, first.cursor)
    assert quiet.items == () and quiet.not_modified
    history = [args for method, args in sandbox.reads if method == "conversations.history"]
    assert history[-1]["oldest"] == "1756807200.000200"
    ts = sandbox.post_as("learning", "New cohort starts <!here> :tada: <https://lms.example.edu/c/9>")
    second = r.fetch(src, quiet.cursor)
    assert [(i.remote_id, i.text) for i in second.items] == [(ts, "New cohort starts @here :tada: "
                                                                  "https://lms.example.edu/c/9")]
    assert json.loads(second.cursor or "")["oldest"] == ts
    assert [m for m, _ in sandbox.reads].count("conversations.list") == 1  # the id rode in the cursor
    assert [m for m, _ in sandbox.reads].count("auth.test") == 1


def test_channel_by_id_and_max_items(hosts: PostingHosts) -> None:
    page = reader(hosts).fetch(source(hosts, "c0learning1", max_items=1), None)
    assert len(page.items) == 1 and page.items[0].remote_id == "1756807200.000200"
    assert dict(hosts.sandboxes["slack"].reads)["conversations.history"]["limit"] == "1"


def test_private_channel_is_refused_by_id_and_not_found_by_name(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="private: tiles show only public channels"):
        reader(hosts).fetch(source(hosts, "C0LEADERS01"), None)
    with pytest.raises(Permanent, match="no public Slack channel #leadership"):
        reader(hosts).fetch(source(hosts, "#leadership"), None)
    assert not any(m == "conversations.history" for m, _ in hosts.sandboxes["slack"].reads)


def test_channel_made_private_later_stops_at_the_next_fetch(hosts: PostingHosts) -> None:
    r, src = reader(hosts), source(hosts)
    first = r.fetch(src, None)
    hosts.sandboxes["slack"].private.add("C0LEARNING1")
    with pytest.raises(Permanent, match="private"):
        r.fetch(src, first.cursor)


def test_archived_and_not_joined_channels_are_permanent(hosts: PostingHosts) -> None:
    hosts.sandboxes["slack"].archived.add("C0GENERAL01")
    with pytest.raises(Permanent, match="archived"):
        reader(hosts).fetch(source(hosts, "C0GENERAL01"), None)
    with pytest.raises(Permanent, match="not in that channel"):
        reader(hosts).fetch(source(hosts, "#random"), None)


def test_429_is_rate_limited_with_retry_after(hosts: PostingHosts) -> None:
    hosts.sandboxes["slack"].posting_faults.push(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "37"})
    with pytest.raises(RateLimited) as caught:
        reader(hosts).fetch(source(hosts), None)
    assert caught.value.retry_after == 37
    assert reader(hosts).fetch(source(hosts), None).items  # nothing held


def test_server_error_is_transient(hosts: PostingHosts) -> None:
    hosts.sandboxes["slack"].posting_faults.push(503, {"ok": False, "error": "service_unavailable"})
    with pytest.raises(Transient):
        reader(hosts).fetch(source(hosts), None)


def test_unknown_token_is_auth_expired(hosts: PostingHosts) -> None:
    with pytest.raises(AuthExpired, match="invalid_auth"):
        reader(hosts).fetch(FeedSource("#learning", {"access_token": "xoxb-unknown"}), None)
    with pytest.raises(AuthExpired, match="no bot token"):
        reader(hosts).fetch(FeedSource("#learning", {}), None)


def test_cursor_of_another_channel_is_ignored(hosts: PostingHosts) -> None:
    first = reader(hosts).fetch(source(hosts), None)
    hosts.sandboxes["slack"].post_as("general", "hello general")
    page = reader(hosts).fetch(source(hosts, "#general"), first.cursor)
    assert [i.text for i in page.items] == ["hello general"]


@pytest.mark.parametrize("address", ["", "#", "# spaces here", "#UPPER!", "https://slack.com/x"])
def test_check_address_refuses_with_a_clear_message(address: str) -> None:
    with pytest.raises(ValueError, match="needs a channel such as #learning"):
        SlackChannelReader.check_address(address)


def test_check_address_normalises() -> None:
    assert SlackChannelReader.check_address(" #Learning ") == "#learning"
    assert SlackChannelReader.check_address("learning") == "#learning"
    assert SlackChannelReader.check_address("C0LEARNING1") == "C0LEARNING1"


def test_mrkdwn_becomes_plain_text() -> None:
    people = {"U1": ("Sam", None)}
    assert plain_text("hi <@U1> in <#C1|wins> see <https://a.example/x|the page> &amp; &lt;b&gt;", people) == \
        "hi @Sam in #wins see the page & <b>"
    assert plain_text("Who is taking *Security Basics* _this_ month? ~not~ me. 2*3*4 and * alone, snake_case_name") == \
        "Who is taking Security Basics this month? not me. 2*3*4 and * alone, snake_case_name"

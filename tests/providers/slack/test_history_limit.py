"""Slack's conversations.history limit for non-Marketplace apps, in the provider and its sandbox (over HTTP): the
sandbox refuses a second call within the minute and cuts `limit` to 15; the reader and publisher of an app declared
non-marketplace ask for at most 15 and make one history call per fetch or look-up."""
from __future__ import annotations

import pytest

from providers import registry
from providers.base import FeedSource, Post, RateLimited, ReadLimit, Target
from providers.slack.publish import NON_MARKETPLACE_HISTORY
from providers.slack.sandbox import T_PARTNER, HistoryLimit
from tests.providers.posting import PostingHosts

NON_MARKETPLACE = {"slack_app": "non-marketplace"}


class Clock:
    """Seconds the test moves; the sandbox reads it instead of sleeping."""

    def __init__(self) -> None:
        self.at = 1_800_000_000.0

    def __call__(self) -> float:
        return self.at


def test_the_sandbox_answers_ratelimited_to_a_second_call_within_the_minute(hosts: PostingHosts) -> None:
    clock, sandbox = Clock(), hosts.sandboxes["slack"]
    sandbox.history_limit = HistoryLimit(clock=clock)
    reader = registry.reader("slack:channel", hosts.settings("slack"))  # declared internal: it does not hold back
    source = FeedSource("#learning", {"access_token": sandbox.install_bot()}, max_items=40)
    reader.fetch(source, None)
    with pytest.raises(RateLimited) as limited:
        reader.fetch(source, None)
    assert 0 < limited.value.retry_after <= 60 and sandbox.history_limit.refused == {T_PARTNER: 1}
    clock.at += 60
    reader.fetch(source, None)
    assert len(sandbox.history_limit.admitted[T_PARTNER]) == 2
    assert sandbox.history_limit.oversized == [40, 40]  # an internal app's 40 is more than Slack gives this one


def test_a_non_marketplace_reader_asks_for_fifteen_at_most(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["slack"]
    sandbox.history_limit = HistoryLimit(clock=Clock())
    reader = registry.reader("slack:channel", hosts.settings("slack", options=NON_MARKETPLACE))
    assert reader.read_limit() == NON_MARKETPLACE_HISTORY
    assert registry.reader("slack:channel", hosts.settings("slack")).read_limit() is None
    reader.fetch(FeedSource("#learning", {"access_token": sandbox.install_bot()}, max_items=40), None)
    [history] = [args for method, args in sandbox.reads if method == "conversations.history"]
    assert history["limit"] == "15" and sandbox.history_limit.oversized == []


def test_a_non_marketplace_lookup_is_one_call_of_fifteen(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["slack"]
    publisher = hosts.publisher("slack", options=NON_MARKETPLACE)
    cap = publisher.read_limit()
    assert isinstance(cap, ReadLimit) and (cap.calls, cap.per_seconds, cap.max_items) == (1, 60, 15)
    target = Target("#wins", {"access_token": sandbox.install_bot()})
    publisher.publish(target, Post("Ada completed Security Basics", None, None, None, "hub-first"))
    for n in range(15):  # fifteen people spoke after the post: it is now the 16th newest message
        sandbox.post_as("wins", f"message {n}")
    sandbox.history_limit = HistoryLimit(clock=Clock())
    assert publisher.find(target, "hub-first") is None  # beyond the one page a minute allows: left for an admin
    [history] = [args for method, args in sandbox.reads if method == "conversations.history"]
    assert history["limit"] == "15" and sandbox.history_limit.refused == {}

"""X posting through tweepy against the X sandbox over HTTP: create_tweet, lookups, X's problem bodies."""
from __future__ import annotations

import time

import pytest

from providers.base import Permanent, Post, RateLimited, Target
from providers.posting_sandbox import issue_token
from tests.providers.posting import X_USER, PostingHosts

POST = Post("Ada earned the Rust badge", "https://lms.example.edu/badge/1", "Rust", None, "hub-d11")


def target(hosts: PostingHosts, scope: str = "tweet.read tweet.write users.read offline.access") -> Target:
    return Target("me", {"access_token": issue_token(hosts.sandboxes["x"], X_USER, scope)}, account_id=X_USER)


def test_tweet_has_text_link_and_marker_and_was_sent_by_tweepy(hosts: PostingHosts) -> None:
    published = hosts.publisher("x").publish(target(hosts), POST)
    [tweet] = hosts.sandboxes["x"].tweets
    assert published.remote_id == tweet["id"] and published.url == f"https://x.com/i/status/{tweet['id']}"
    assert tweet["text"] == "Ada earned the Rust badge https://lms.example.edu/badge/1\n\nhub-d11"
    assert tweet["author_id"] == X_USER


def test_long_text_is_cut_to_fit_with_link_and_marker(hosts: PostingHosts) -> None:
    long = Post("word " * 100, "https://lms.example.edu/c/" + "x" * 60, None, None, "hub-d12")
    hosts.publisher("x").publish(target(hosts), long)
    text = hosts.sandboxes["x"].tweets[0]["text"]
    assert text.endswith("\n\nhub-d12") and "https://lms.example.edu/c/" in text
    weighted = len(text) - len(long.link) + 23  # X counts every link as 23 characters
    assert weighted <= 280 and "…" in text


def test_duplicate_is_permanent_with_xs_message(hosts: PostingHosts) -> None:
    publisher, t = hosts.publisher("x"), target(hosts)
    publisher.publish(t, POST)
    with pytest.raises(Permanent, match="duplicate content"):
        publisher.publish(t, POST)


def test_rate_limit_uses_x_rate_limit_reset(hosts: PostingHosts) -> None:
    reset = int(time.time()) + 600
    hosts.sandboxes["x"].posting_faults.push(429, {"title": "Too Many Requests", "status": 429},
                                             {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    with pytest.raises(RateLimited) as caught:
        hosts.publisher("x").publish(target(hosts), POST)
    assert 590 <= caught.value.retry_after <= 600


def test_without_tweet_write_the_post_is_refused(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="403"):
        hosts.publisher("x").publish(target(hosts, "tweet.read users.read"), POST)


def test_find_reads_the_members_recent_posts(hosts: PostingHosts) -> None:
    publisher, t = hosts.publisher("x"), target(hosts)
    published = publisher.publish(t, POST)
    publisher.publish(t, Post("later", None, None, None, "hub-d13"))
    assert publisher.find(t, "hub-d11") == published
    assert publisher.find(t, "hub-none") is None
    assert publisher.find(Target("me", t.tokens, None), "hub-d11") is None  # no user id: cannot be known

"""The publisher contract, run over every registered destination kind against its sandbox over HTTP."""
from __future__ import annotations

import pytest
import requests

from providers import registry
from providers.base import AuthExpired, Permanent, Post, RateLimited, Transient
from tests.providers.posting import PostingHosts

KINDS = sorted(registry.PUBLISHERS)
# Kinds whose posts can be looked up after a crash; the others answer None (and say so in their docs).
LOOKUP = {"slack", "yammer", "linkedin", "x"}
# Kinds where a 401 means a token to refresh; for URL-addressed kinds it means a wrong URL or secret.
TOKEN_KINDS = {"slack", "yammer", "linkedin", "x"}


def post(marker: str = "hub-d101", text: str = "Ada completed Security Basics") -> Post:
    return Post(text, "https://lms.example.edu/course/7", "Security Basics", "https://lms.example.edu/img/7.png",
                marker)


def test_every_registered_kind_is_covered(hosts: PostingHosts) -> None:
    assert set(KINDS) == {"slack", "yammer", "teams", "linkedin", "x", "webhook"}
    for kind in KINDS:
        assert hosts.case(kind).publisher.kind == kind


def test_unknown_destination_kind_is_refused() -> None:
    with pytest.raises(registry.UnknownKind, match="unknown destination kind 'myspace'"):
        registry.publisher("myspace", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_post_lands_once_and_is_found_by_marker(hosts: PostingHosts, kind: str) -> None:
    case = hosts.case(kind)
    published = case.publisher.publish(case.target, post())
    assert published.remote_id
    landed = case.texts()
    assert len(landed) == 1 and "Ada completed Security Basics" in landed[0]
    found = case.publisher.find(case.target, "hub-d101")
    if kind in LOOKUP:
        assert found == published
        assert case.publisher.find(case.target, "hub-d999") is None
    else:
        assert found is None


@pytest.mark.parametrize("kind", KINDS)
def test_429_is_rate_limited_with_retry_after(hosts: PostingHosts, kind: str) -> None:
    case = hosts.case(kind)
    case.faults.push(429, {"ok": False, "error": "ratelimited", "title": "Too Many Requests"}, {"Retry-After": "7"})
    with pytest.raises(RateLimited) as caught:
        case.publisher.publish(case.target, post())
    assert caught.value.retry_after == 7
    assert case.texts() == []
    case.publisher.publish(case.target, post())  # the next try goes through: nothing was held or slept on
    assert len(case.texts()) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_5xx_is_transient(hosts: PostingHosts, kind: str) -> None:
    case = hosts.case(kind)
    case.faults.push(503, {"ok": False, "error": "service_unavailable", "message": "down"})
    with pytest.raises(Transient):
        case.publisher.publish(case.target, post())
    assert case.texts() == []


@pytest.mark.parametrize("kind", KINDS)
def test_401_is_auth_expired_for_tokens_and_permanent_for_urls(hosts: PostingHosts, kind: str) -> None:
    case = hosts.case(kind)
    case.faults.push(401, {"ok": False, "error": "invalid_auth", "message": "Invalid access token"})
    with pytest.raises(AuthExpired if kind in TOKEN_KINDS else Permanent):
        case.publisher.publish(case.target, post())


@pytest.mark.parametrize("kind", KINDS)
def test_400_is_permanent_with_the_providers_words(hosts: PostingHosts, kind: str) -> None:
    case = hosts.case(kind)
    case.faults.push(400, {"ok": False, "error": "invalid_arguments", "message": "invalid_arguments"})
    with pytest.raises(Permanent, match="invalid_arguments"):
        case.publisher.publish(case.target, post())


@pytest.mark.parametrize("kind", KINDS)
def test_unreachable_destination_is_transient(hosts: PostingHosts, kind: str) -> None:
    """A closed loopback port: connection refused, never a hang or a crash."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    case = hosts.case(kind)
    hosts.url = dead  # every URL the publisher is built with now points at the closed port
    hosts.tls_url = dead.replace("http:", "https:")
    publisher = hosts.publisher(kind)
    target = case.target
    if kind in {"teams", "webhook"}:
        target = type(target)(dead + "/x", target.tokens, target.account_id)
    with pytest.raises(Transient):
        publisher.publish(target, post())


# Each posting sandbox's page for people (the demo LMS links to them), under /sandbox/.
VIEWS = {"slack": "slack/posts", "yammer": "microsoft/yammer/groups", "teams": "teams/posts",
         "linkedin": "linkedin/feed", "x": "x/posts", "webhook": "webhook/posts"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_post_shows_on_the_sandbox_page_for_people(hosts: PostingHosts, kind: str) -> None:
    view = f"{hosts.url}/sandbox/{VIEWS[kind]}"
    before = requests.get(view, timeout=10)
    assert before.status_code == 200 and "No posts yet" in before.text
    case = hosts.case(kind)
    case.publisher.publish(case.target, post(text="Ada completed Security Basics, at last"))
    assert "Ada completed Security Basics, at last" in requests.get(view, timeout=10).text

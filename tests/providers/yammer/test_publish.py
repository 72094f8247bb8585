"""Yammer posting: msal redeems the connection's refresh token for a Yammer token, then messages.json."""
from __future__ import annotations

import pytest

from providers.base import AuthExpired, Permanent, Post, RateLimited, Target
from tests.providers.posting import MS_CLIENT, PostingHosts

POST = Post("Megan earned the Cloud badge", "https://lms.example.edu/badge/3", "Cloud", "https://lms.example.edu/b.png",
            "hub-d3")


def connect(hosts: PostingHosts, sub: str = "contoso-megan") -> dict[str, str]:
    return {"refresh_token": hosts.sandboxes["microsoft"].issue_refresh_token(MS_CLIENT, sub)}


def test_message_lands_in_the_group_with_an_open_graph_link(hosts: PostingHosts) -> None:
    microsoft = hosts.sandboxes["microsoft"]
    before = microsoft.token_requests
    published = hosts.publisher("yammer").publish(Target("123456", connect(hosts)), POST)
    [message] = microsoft.yammer.group_messages("123456")
    assert published.remote_id == str(message["id"]) and published.url == message["web_url"]
    assert message["body"]["plain"] == "Megan earned the Cloud badge\nhttps://lms.example.edu/badge/3\n\nhub-d3"
    assert message["og"] == {"url": "https://lms.example.edu/badge/3", "title": "Cloud",
                             "image": "https://lms.example.edu/b.png"}
    assert message["sender_id"] == "3f7a2b9c-1d4e-4f5a-8b6c-7d8e9f0a1b2c"
    assert microsoft.token_requests == before + 1  # msal used the refresh grant at the sandbox's Entra


def test_find_reads_the_group(hosts: PostingHosts) -> None:
    publisher, target = hosts.publisher("yammer"), Target("123456", connect(hosts))
    published = publisher.publish(target, POST)
    assert publisher.find(target, "hub-d3") == published
    assert publisher.find(target, "hub-other") is None


def test_revoked_refresh_token_is_auth_expired(hosts: PostingHosts) -> None:
    with pytest.raises(AuthExpired, match="invalid_grant"):
        hosts.publisher("yammer").publish(Target("123456", {"refresh_token": "revoked"}), POST)


def test_group_of_another_network_is_permanent(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="Group not found"):
        hosts.publisher("yammer").publish(Target("345678", connect(hosts)), POST)
    with pytest.raises(Permanent, match="numeric v1 group id"):
        hosts.publisher("yammer").publish(Target("eyJfdHlwZSI6Ikdyb3VwIn0", connect(hosts)), POST)


def test_external_groups_need_the_capabilities_header(hosts: PostingHosts) -> None:
    tokens = connect(hosts)
    with pytest.raises(Permanent, match="yammer-capabilities"):
        hosts.publisher("yammer").publish(Target("234567", tokens), POST)
    hosts.publisher("yammer", options={"tenant": "organizations", "external_groups": True}).publish(
        Target("234567", tokens), POST)
    assert len(hosts.sandboxes["microsoft"].yammer.group_messages("234567")) == 1


def test_eleventh_message_in_30_seconds_is_rate_limited(hosts: PostingHosts) -> None:
    publisher, target = hosts.publisher("yammer"), Target("123456", connect(hosts))
    for n in range(10):
        publisher.publish(target, Post(f"post {n}", None, None, None, f"hub-r{n}"))
    with pytest.raises(RateLimited) as caught:
        publisher.publish(target, POST)
    assert 1 <= caught.value.retry_after <= 30
    assert len(hosts.sandboxes["microsoft"].yammer.group_messages("123456")) == 10


def test_the_refresh_token_entra_rotates_is_handed_back(hosts: PostingHosts) -> None:
    microsoft, reported = hosts.sandboxes["microsoft"], []
    tokens = {**connect(hosts), "kept": "as is"}
    target = Target("123456", tokens, on_rotated=lambda used, fresh: reported.append((used, fresh)))
    hosts.publisher("yammer").publish(target, POST)
    [(used, fresh)] = reported
    assert used == tokens and fresh["kept"] == "as is"
    assert fresh["refresh_token"] != tokens["refresh_token"] and fresh["refresh_token"] in microsoft.refresh_tokens
    microsoft.revoke_refresh_token(tokens["refresh_token"])  # the new token works on its own
    hosts.publisher("yammer").publish(Target("123456", fresh), Post("again", None, None, None, "hub-d4"))
    assert len(microsoft.yammer.group_messages("123456")) == 2


def test_a_target_without_a_connection_ignores_rotation(hosts: PostingHosts) -> None:
    hosts.publisher("yammer").publish(Target("123456", connect(hosts)), POST)  # on_rotated unset: nothing to store
    assert len(hosts.sandboxes["microsoft"].yammer.group_messages("123456")) == 1

"""LinkedIn posting over HTTP against the sandbox's /rest/posts: headers, body, URN header, errors."""
from __future__ import annotations

import pytest
import requests

from providers.base import AuthExpired, Permanent, Post, Target
from providers.linkedin.publish import LINKEDIN_VERSION
from providers.posting_sandbox import issue_token
from tests.providers.posting import LINKEDIN_SUB, PostingHosts

POST = Post("Linh completed Data (Level 2) #proud @team", "https://lms.example.edu/course/9", "Data",
            None, "hub-d9")


def target(hosts: PostingHosts, scope: str = "openid profile w_member_social") -> Target:
    return Target("me", {"access_token": issue_token(hosts.sandboxes["linkedin"], LINKEDIN_SUB, scope)},
                  account_id=LINKEDIN_SUB)


def test_post_is_a_public_article_by_the_member(hosts: PostingHosts) -> None:
    published = hosts.publisher("linkedin").publish(target(hosts), POST)
    [stored] = hosts.sandboxes["linkedin"].posts
    assert published.remote_id == stored["id"] and stored["id"].startswith("urn:li:share:")
    assert published.url == f"https://www.linkedin.com/feed/update/{stored['id']}/"
    assert stored["author"] == f"urn:li:person:{LINKEDIN_SUB}"
    assert stored["visibility"] == "PUBLIC" and stored["lifecycleState"] == "PUBLISHED"
    assert stored["distribution"]["feedDistribution"] == "MAIN_FEED"
    assert stored["content"] == {"article": {"source": "https://lms.example.edu/course/9", "title": "Data"}}
    # little text: reserved characters escaped so they show as typed; the marker ends the commentary.
    assert stored["commentary"] == "Linh completed Data \\(Level 2\\) \\#proud \\@team\n\nhub-d9"


def test_sandbox_refuses_calls_without_the_version_headers(hosts: PostingHosts) -> None:
    """The sandbox checks what the publisher sends: without LinkedIn-Version it is a 426."""
    t = target(hosts)
    answer = requests.post(hosts.base("linkedin") + "/rest/posts", json={},
                           headers={"Authorization": f"Bearer {t.tokens['access_token']}"}, timeout=5)
    assert answer.status_code == 426 and answer.json()["code"] == "NONEXISTENT_VERSION"
    assert len(LINKEDIN_VERSION) == 6 and LINKEDIN_VERSION.isdigit()


def test_find_by_author_and_none_without_read_permission(hosts: PostingHosts) -> None:
    publisher, t = hosts.publisher("linkedin"), target(hosts)
    published = publisher.publish(t, POST)
    assert publisher.find(t, "hub-d9") == published
    assert publisher.find(t, "hub-zz") is None
    hosts.sandboxes["linkedin"].posting_faults.push(403, {"status": 403, "code": "ACCESS_DENIED",
                                                          "message": "Not enough permissions"})
    assert publisher.find(t, "hub-d9") is None  # no r_member_social: cannot be known


def test_missing_scope_is_permanent_and_bad_token_auth_expired(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="403.*Not enough permissions"):
        hosts.publisher("linkedin").publish(target(hosts, "openid profile"), POST)
    with pytest.raises(AuthExpired):
        hosts.publisher("linkedin").publish(Target("me", {"access_token": "expired"}, LINKEDIN_SUB), POST)
    with pytest.raises(Permanent, match="linkedin:me"):
        hosts.publisher("linkedin").publish(Target("company", {"access_token": "x"}, LINKEDIN_SUB), POST)

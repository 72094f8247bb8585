"""The learner-facing routes across the wall: tiles, share pages and connections of Org A are not there for Org B's
learner or admin (404, as for an unknown id, and nothing changes), and work for Org A's own learner."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from hub.models import Connection, Delivery, User
from tests.auth.helpers import add_sandbox_user
from tests.live import Browser, LiveHub, csrf_token
from tests.tenancy.conftest import Side, Wall


@dataclass
class Learners:
    """Both organisations' learners, signed in; `a_connection` is A's learner's own LinkedIn connection and
    `a_share` a delivery to it waiting for them (what /share shows)."""

    a: Browser
    b: Browser
    a_connection: int
    a_share: int


def _sign_in_learner(live: LiveHub, side: Side) -> Browser:
    """The learner's first sign-in, with a verified address matching their account: it claims that account."""
    sub = add_sandbox_user(live, "google", sub=f"tenancy-learner-{side.key}", email=side.learner_email,
                           email_verified=True, name=f"Learner {side.key.upper()}")
    browser = Browser(live)
    answer = browser.sign_in("google", user=sub)
    assert answer.status_code == 302, answer.text
    with live.context() as session:
        claimed = session.scalar(select(User).where(User.identities.any(subject=sub)))
        assert claimed is not None and claimed.id == side.learner_id  # no second account was made
    return browser


@pytest.fixture
def learners(wall: Wall) -> Learners:
    live, vault = wall.live, wall.live.app.extensions["vault"]
    with live.context() as session:
        connection = Connection(kind="linkedin", user_id=wall.a.learner_id, org_id=None, remote_id="member-a",
                                scopes=["w_member_social"], tokens_sealed="")
        session.add(connection)
        session.flush()
        connection.tokens_sealed = vault.seal(json.dumps({"access_token": "li-a"}), connection.seal_context)
        share = Delivery(key="tenancy:a:share", org_id=wall.a.org_id, user_id=wall.a.learner_id,
                         destination="linkedin:me", status="skipped", text="Learner A completed Security Basics")
        session.add(share)
        session.commit()
        ids = connection.id, share.id
    return Learners(_sign_in_learner(live, wall.a), _sign_in_learner(live, wall.b), *ids)


def _token(browser: Browser) -> str:
    page = browser.get("/account")
    assert page.status_code == 200, page.text
    return csrf_token(page.text)


# --- tiles -----------------------------------------------------------------------------------------------------------
def _listed(browser: Browser) -> set[int]:
    answer = browser.get("/api/tiles")
    assert answer.status_code == 200, answer.text
    return {tile["id"] for tile in answer.json()["tiles"]}


def test_tiles_of_a_are_not_there_for_b(wall: Wall, learners: Learners) -> None:
    for outsider in (learners.b, wall.b.admin):
        listed = _listed(outsider)
        assert wall.b.tile_id in listed and wall.a.tile_id not in listed
        for path in (f"/api/tiles/{wall.a.tile_id}", f"/tiles/{wall.a.tile_id}"):
            assert outsider.get(path).status_code == 404, path
        assert outsider.get(f"/api/tiles/{wall.b.tile_id}").status_code == 200


def test_tiles_of_a_work_for_a_learner(wall: Wall, learners: Learners) -> None:
    listed = _listed(learners.a)
    assert wall.a.tile_id in listed and wall.b.tile_id not in listed
    assert learners.a.get(f"/api/tiles/{wall.a.tile_id}").status_code == 200
    assert learners.a.get(f"/tiles/{wall.a.tile_id}").status_code == 200
    assert learners.a.get(f"/api/tiles/{wall.b.tile_id}").status_code == 404


# --- share pages -----------------------------------------------------------------------------------------------------
def _delivery(live: LiveHub, delivery_id: int) -> Delivery:
    with live.context() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_share_page_of_a_is_not_found_for_b_learner_or_admin(wall: Wall, learners: Learners) -> None:
    for outsider in (learners.b, wall.b.admin):
        assert outsider.get(f"/share/{learners.a_share}").status_code == 404
        hijack = outsider.post(f"/share/{learners.a_share}", data={"csrf_token": _token(outsider), "text": "hijack"})
        assert hijack.status_code == 404
        # A's org-channel delivery is no share page for anyone, least of all across the wall.
        assert outsider.get(f"/share/{wall.a.delivery_id}").status_code == 404
    row = _delivery(wall.live, learners.a_share)
    assert (row.status, row.text) == ("skipped", "Learner A completed Security Basics")


def test_a_share_page_works_for_a_learner(wall: Wall, learners: Learners) -> None:
    page = learners.a.get(f"/share/{learners.a_share}")
    assert page.status_code == 200 and "Learner A completed Security Basics" in page.text


# --- connections -----------------------------------------------------------------------------------------------------
def _exists(live: LiveHub, connection_id: int) -> bool:
    with live.context() as session:
        return session.get(Connection, connection_id) is not None


def test_connections_of_a_cannot_be_disconnected_from_b(wall: Wall, learners: Learners) -> None:
    for outsider in (learners.b, wall.b.admin):
        token = _token(outsider)
        for connection_id in (learners.a_connection, wall.a.connection_id):  # A's learner's own, A's Slack
            answer = outsider.post(f"/connect/{connection_id}/disconnect", data={"csrf_token": token})
            assert answer.status_code == 404, connection_id
    assert _exists(wall.live, learners.a_connection) and _exists(wall.live, wall.a.connection_id)


def test_a_learner_of_a_cannot_disconnect_the_organisation_but_can_their_own(wall: Wall, learners: Learners) -> None:
    token = _token(learners.a)
    assert learners.a.post(f"/connect/{wall.a.connection_id}/disconnect",
                           data={"csrf_token": token}).status_code == 404  # the organisation's, not theirs
    answer = learners.a.post(f"/connect/{learners.a_connection}/disconnect", data={"csrf_token": token})
    assert answer.status_code == 302, answer.text
    assert not _exists(wall.live, learners.a_connection) and _exists(wall.live, wall.a.connection_id)


def test_an_organisation_admin_manages_their_organisations_connections(wall: Wall) -> None:
    """Org A's admin (not a hub admin) sees Org A's Slack on /account, may start connecting one, and disconnects it;
    Org B's admin cannot touch it."""
    wall.live.add_provider("slack")
    page = wall.a.admin.get("/account")
    assert page.status_code == 200 and "workspace-a" in page.text and "workspace-b" not in page.text
    assert wall.a.admin.get("/connect/slack").status_code == 302  # off to Slack to install for Org A
    token = _token(wall.a.admin)
    answer = wall.a.admin.post(f"/connect/{wall.a.connection_id}/disconnect", data={"csrf_token": token})
    assert answer.status_code == 302, answer.text
    assert not _exists(wall.live, wall.a.connection_id) and _exists(wall.live, wall.b.connection_id)

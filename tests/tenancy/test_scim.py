"""SCIM behind the wall: a token sees and changes only its organisations' users and groups, never an admin; and an
address SCIM sets never links a new sign-in to an account that already has one (the takeover it would allow)."""
from __future__ import annotations

import html
from typing import Any

import requests
from sqlalchemy import func, select

from hub import tokens
from hub.models import AuditEvent, Erasure, Identity, LmsAccount, OrgAdmin, Organisation, User
from tests.auth.helpers import add_sandbox_user, counts, signed_in
from tests.live import Browser, LiveHub
from tests.scim.conftest import Scim
from tests.tenancy.conftest import Wall

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
HUB_ADMIN_EMAIL = "admin@hub.example"
REFUSED = "This address belongs to an account that is linked to another sign-in."


def _token(live: LiveHub, name: str, org_names: list[str] | None = None) -> Scim:
    """A SCIM client with a new token for org_names, or for every organisation when None."""
    with live.context() as session:
        found = [session.scalar(select(Organisation).where(Organisation.name == n)) for n in org_names or []]
        created = tokens.create(session, scope="scim", name=name, home_page=f"https://{name}.example",
                                orgs=found, all_orgs=org_names is None)
        session.commit()
    return Scim(live, created.secret)


def _user_id(live: LiveHub, email: str) -> int:
    with live.context() as session:
        return session.scalar(select(User.id).where(User.email == email))


def _state(live: LiveHub, user_id: int) -> tuple[Any, ...]:
    """Everything SCIM could change about a user, and whether they were erased."""
    with live.context() as session:
        user = session.get(User, user_id)
        return (user.email, user.name, user.given_name, user.family_name, user.status, user.org_id, user.is_admin,
                user.email_from_scim, session.get(Erasure, user_id) is not None,
                sorted(session.scalars(select(OrgAdmin.org_id).where(OrgAdmin.user_id == user_id))),
                session.scalar(select(func.count()).select_from(LmsAccount).where(LmsAccount.user_id == user_id)))


def _ids(answer: requests.Response) -> set[int]:
    assert answer.status_code == 200, answer.text
    return {int(resource["id"]) for resource in answer.json().get("Resources", [])}


def _user_body(email: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": email, "emails": [{"value": email, "primary": True}],
            "name": {"givenName": "Ada", "familyName": "Lovelace"}, **extra}


def _email_patch(email: str) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails",
                                                "value": [{"value": email, "primary": True}]}]}


def _members_patch(*user_ids: int) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members",
                                                "value": [{"value": str(uid)} for uid in user_ids]}]}


def _admins(wall: Wall) -> list[int]:
    return [wall.a.admin_id, wall.b.admin_id, _user_id(wall.live, HUB_ADMIN_EMAIL)]


def test_a_token_lists_filters_and_searches_only_its_organisations_non_admins(wall: Wall) -> None:
    scim = Scim(wall.live, wall.a.scim_token)
    assert _ids(scim("GET", "/Users")) == {wall.a.learner_id, wall.a.pending_id}
    assert scim("GET", "/Users").json()["totalResults"] == 2
    for email in (wall.b.learner_email, wall.a.admin_email, wall.b.admin_email, HUB_ADMIN_EMAIL):
        query = f'userName eq "{email}"'
        assert _ids(scim("GET", "/Users", params={"filter": query})) == set()
        assert _ids(scim("POST", "/Users/.search", json={"schemas": [SEARCH], "filter": query})) == set()
    assert _ids(scim("GET", "/Users", params={"filter": 'userName co "learner"'})) == {wall.a.learner_id}

    assert _ids(scim("GET", "/Groups")) == {wall.a.org_id}
    assert _ids(scim("POST", "/Groups/.search", json={"schemas": [SEARCH], "filter": 'displayName eq "Org B"'})) \
        == set()
    group = scim("GET", f"/Groups/{wall.a.org_id}").json()
    assert {int(member["value"]) for member in group["members"]} == {wall.a.learner_id, wall.a.pending_id}
    assert _ids(scim("GET", "/Groups", params={"filter": f'members.value eq "{wall.a.admin_id}"'})) == set()


def test_another_organisations_users_and_every_admin_are_404_and_unchanged(wall: Wall) -> None:
    scim = Scim(wall.live, wall.a.scim_token)
    for user_id in [wall.b.learner_id, wall.b.pending_id, *_admins(wall)]:
        before = _state(wall.live, user_id)
        for method, body in (("GET", None), ("PUT", _user_body("taken-over@evil.example")),
                             ("PATCH", _email_patch("taken-over@evil.example")), ("DELETE", None)):
            answer = scim(method, f"/Users/{user_id}", json=body)
            assert answer.status_code == 404, (method, user_id, answer.text)
            assert answer.json()["detail"] == "User not found"  # the same words as for an id no row has
        assert _state(wall.live, user_id) == before
    for method, body in (("GET", None), ("PUT", {"schemas": [GROUP], "displayName": "Mine now"}),
                         ("PATCH", _members_patch(wall.a.learner_id)), ("DELETE", None)):
        assert scim(method, f"/Groups/{wall.b.org_id}", json=body).status_code == 404, method
    with wall.live.context() as session:
        assert session.get(Organisation, wall.b.org_id).name == "Org B"
        assert session.get(User, wall.a.learner_id).org_id == wall.a.org_id


def test_a_token_reads_and_changes_its_own_organisations_learner(wall: Wall) -> None:
    scim = Scim(wall.live, wall.a.scim_token)
    assert scim("GET", f"/Users/{wall.a.learner_id}").json()["userName"] == wall.a.learner_email
    answer = scim("PATCH", f"/Users/{wall.a.learner_id}", json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]})
    assert answer.status_code == 200, answer.text
    with wall.live.context() as session:
        assert session.get(User, wall.a.learner_id).name == "Renamed"


def test_a_user_created_by_a_token_lands_in_its_organisation(wall: Wall) -> None:
    scim_a, scim_b = Scim(wall.live, wall.a.scim_token), Scim(wall.live, wall.b.scim_token)
    answer = scim_a("POST", "/Users", json=_user_body("newcomer@elsewhere.example"))
    assert answer.status_code == 201, answer.text
    new_id = int(answer.json()["id"])
    assert answer.json()["groups"][0]["value"] == str(wall.a.org_id)
    with wall.live.context() as session:
        user = session.get(User, new_id)
        assert user.org_id == wall.a.org_id and user.email_from_scim is True
    assert scim_a("GET", f"/Users/{new_id}").status_code == 200
    assert scim_b("GET", f"/Users/{new_id}").status_code == 404
    assert new_id not in _ids(scim_b("GET", "/Users"))


def test_a_clash_with_another_organisations_user_reveals_nothing_of_them(wall: Wall) -> None:
    scim = Scim(wall.live, wall.a.scim_token)
    before = counts(wall.live)
    for email in (wall.b.learner_email, HUB_ADMIN_EMAIL):
        answer = scim("POST", "/Users", json=_user_body(email))
        assert answer.status_code == 409 and answer.json()["scimType"] == "uniqueness", answer.text
        text = answer.text
        assert str(_user_id(wall.live, email)) not in text and "Learner B" not in text and "Org B" not in text
    assert counts(wall.live) == before


def test_a_token_of_two_organisations_places_by_domain_else_refuses_naming_them(wall: Wall) -> None:
    scim = _token(wall.live, "both", ["Org A", "Org B"])
    assert _ids(scim("GET", "/Users")) == {wall.a.learner_id, wall.a.pending_id, wall.b.learner_id,
                                          wall.b.pending_id}
    answer = scim("POST", "/Users", json=_user_body("newcomer@b.example"))
    assert answer.status_code == 201, answer.text
    with wall.live.context() as session:
        assert session.get(User, int(answer.json()["id"])).org_id == wall.b.org_id
    before = counts(wall.live)
    answer = scim("POST", "/Users", json=_user_body("newcomer@elsewhere.example"))
    assert answer.status_code == 400 and answer.json()["scimType"] == "invalidValue", answer.text
    assert "(Org A, Org B)" in answer.json()["detail"]
    assert counts(wall.live) == before


def test_an_all_orgs_token_sees_both_organisations_but_never_an_admin(wall: Wall) -> None:
    scim = _token(wall.live, "everything")
    listed = _ids(scim("GET", "/Users"))
    assert {wall.a.learner_id, wall.b.learner_id, wall.a.pending_id, wall.b.pending_id} <= listed
    assert not listed & set(_admins(wall))
    assert {wall.a.org_id, wall.b.org_id} <= _ids(scim("GET", "/Groups"))
    for admin_id in _admins(wall):
        before = _state(wall.live, admin_id)
        for method, body in (("GET", None), ("PATCH", _email_patch("x@evil.example")), ("DELETE", None)):
            assert scim(method, f"/Users/{admin_id}", json=body).status_code == 404, (method, admin_id)
        assert _state(wall.live, admin_id) == before
    answer = scim("POST", "/Users", json=_user_body("anywhere@elsewhere.example"))
    assert answer.status_code == 201, answer.text
    with wall.live.context() as session:  # as before tenancy: sign-in or a Group places the user
        assert session.get(User, int(answer.json()["id"])).org_id is None


def test_group_membership_does_not_cross_the_wall_nor_move_admins(wall: Wall) -> None:
    live = wall.live
    scim_a, scim_b = Scim(live, wall.a.scim_token), Scim(live, wall.b.scim_token)
    b_learner, a_admin = _state(live, wall.b.learner_id), _state(live, wall.a.admin_id)
    for user_id in (wall.b.learner_id, wall.a.admin_id, wall.b.admin_id):
        answer = scim_a("PATCH", f"/Groups/{wall.a.org_id}", json=_members_patch(user_id))
        assert answer.status_code == 400 and answer.json()["detail"] == f"member {user_id} is not a user"
    answer = scim_b("PATCH", f"/Groups/{wall.b.org_id}", json=_members_patch(wall.a.learner_id))
    assert answer.status_code == 400, answer.text
    assert _state(live, wall.b.learner_id) == b_learner and _state(live, wall.a.learner_id)[5] == wall.a.org_id
    # A whole member list without the admin (they are never listed) leaves the admin where they are.
    answer = scim_a("PUT", f"/Groups/{wall.a.org_id}", json={
        "schemas": [GROUP], "displayName": "Org A", "members": [{"value": str(wall.a.learner_id)}]})
    assert answer.status_code == 200, answer.text
    assert _state(live, wall.a.admin_id) == a_admin
    assert _state(live, wall.a.pending_id)[5] is None  # the LMS may still let its own learners go
    everything = _token(live, "everything")
    answer = everything("PATCH", f"/Groups/{wall.b.org_id}", json=_members_patch(wall.a.admin_id))
    assert answer.status_code == 400 and _state(live, wall.a.admin_id) == a_admin


def test_organisations_are_created_and_deleted_only_by_an_all_orgs_token_and_never_with_admins(wall: Wall) -> None:
    live = wall.live
    scim_a = Scim(live, wall.a.scim_token)
    answer = scim_a("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Org C"})
    assert answer.status_code == 403 and "scoped to its organisations" in answer.json()["detail"], answer.text
    answer = scim_a("DELETE", f"/Groups/{wall.a.org_id}")
    assert answer.status_code == 403, answer.text
    everything = _token(live, "everything")
    answer = everything("DELETE", f"/Groups/{wall.b.org_id}")
    assert answer.status_code == 403 and "has admins" in answer.json()["detail"], answer.text
    with live.context() as session:
        assert session.scalar(select(Organisation.name).where(Organisation.name == "Org C")) is None
        assert session.get(Organisation, wall.a.org_id) is not None
        assert session.get(Organisation, wall.b.org_id) is not None
    created = everything("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Org C"})
    assert created.status_code == 201, created.text
    assert everything("DELETE", f"/Groups/{created.json()['id']}").status_code == 204


def _signed_in_victim(live: LiveHub) -> tuple[Browser, int]:
    """A learner of Org A who signs in with Google (an identity exists)."""
    add_sandbox_user(live, "google", sub="victim-google", email="victim@a.example", email_verified=True,
                     name="Victim")
    browser = Browser(live)
    assert browser.sign_in("google", user="victim-google").status_code == 302
    return browser, _user_id(live, "victim@a.example")


def test_a_scim_changed_email_does_not_link_a_new_sign_in(wall: Wall) -> None:
    """The takeover: a SCIM token sets an account's address to one the attacker controls, who signs in with it."""
    live = wall.live
    live.add_provider("oidc")
    add_sandbox_user(live, "oidc", sub="attacker", email="attacker@evil.example", email_verified=True)
    scim = _token(live, "everything")
    hub_admin = _user_id(live, HUB_ADMIN_EMAIL)
    before = _state(live, hub_admin)
    assert scim("PATCH", f"/Users/{hub_admin}", json=_email_patch("attacker@evil.example")).status_code == 404
    assert _state(live, hub_admin) == before

    victim_browser, victim = _signed_in_victim(live)
    answer = scim("PATCH", f"/Users/{victim}", json=_email_patch("attacker@evil.example"))
    assert answer.status_code == 200, answer.text
    with live.context() as session:
        assert session.get(User, victim).email == "attacker@evil.example"
        assert session.get(User, victim).email_from_scim is True
    users_and_identities = counts(live)

    attacker = Browser(live)
    answer = attacker.sign_in("oidc", user="attacker")
    assert answer.status_code == 403 and REFUSED in html.unescape(answer.text), answer.text
    assert counts(live) == users_and_identities
    with live.context() as session:
        assert [i.provider for i in session.get(User, victim).identities] == ["google"]
        assert session.scalar(select(Identity).where(Identity.subject == "attacker")) is None
        event = session.scalars(select(AuditEvent).where(AuditEvent.outcome == "failure")
                                .order_by(AuditEvent.id.desc())).first()
        assert event.reason == "scim_email_not_linked" and event.user_id == victim and event.org_id == wall.a.org_id
    assert not signed_in(attacker)
    assert signed_in(victim_browser)  # the owner's own sign-in is untouched


def test_the_owner_links_a_provider_for_a_scim_set_address_from_the_account_page(wall: Wall) -> None:
    live = wall.live
    live.add_provider("oidc")
    add_sandbox_user(live, "oidc", sub="victim-oidc", email="victim@new.example", email_verified=True)
    browser, victim = _signed_in_victim(live)
    scim = _token(live, "everything")
    assert scim("PATCH", f"/Users/{victim}", json=_email_patch("victim@new.example")).status_code == 200
    answer = browser.sign_in("oidc", user="victim-oidc", link="1", next="/account")
    assert answer.status_code == 302 and answer.headers["Location"] == "/account", answer.text
    with live.context() as session:
        user = session.get(User, victim)
        assert sorted(i.provider for i in user.identities) == ["google", "oidc"]
        assert user.email_from_scim is False  # the owner's own provider verified it


def test_a_scim_created_user_is_claimed_at_first_sign_in_by_the_verified_address(wall: Wall) -> None:
    live = wall.live
    scim = Scim(live, wall.a.scim_token)
    answer = scim("POST", "/Users", json=_user_body("claimed@a.example"))
    assert answer.status_code == 201, answer.text
    new_id = int(answer.json()["id"])
    users, identities = counts(live)
    add_sandbox_user(live, "google", sub="claimer", email="claimed@a.example", email_verified=True)
    browser = Browser(live)
    assert browser.sign_in("google", user="claimer").status_code == 302
    assert counts(live) == (users, identities + 1)
    with live.context() as session:
        user = session.get(User, new_id)
        assert [i.subject for i in user.identities] == ["claimer"] and user.org_id == wall.a.org_id
        assert user.email_from_scim is False  # now the owner's address: it links like any verified one
    assert signed_in(browser)

"""SCIM Users over HTTP: tokens, uniqueness, filters and paging, externalId for the xAPI intake, active=false."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hub import tokens
from hub.crypto import token_hash
from hub.models import ApiToken, Delivery, LmsAccount, Organisation, User
from tests.auth.helpers import ADA, callback_url, signed_in
from tests.clock import movable_clock
from tests.live import Browser, LiveHub
from tests.scim.conftest import HOME_PAGE, Scim, new_user


def test_no_token_or_a_dead_one_gets_401_with_a_challenge(live: LiveHub, scim_token: str) -> None:
    with live.context() as session:
        revoked = tokens.create(session, scope="scim", name="revoked", all_orgs=True)
        tokens.revoke(session, revoked.id)
        expired = tokens.create(session, scope="scim", name="expired", expires_days=1, all_orgs=True)
        session.get(ApiToken, expired.id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(ApiToken(name="other", scope="other", token_hash=token_hash("hubt_other"), prefix="hubt_oth",
                             home_page="urn:x"))
        session.commit()
    for secret in (None, "hubt_nonsense", revoked.secret, expired.secret, "hubt_other"):
        answer = Scim(live, secret)("GET", "/Users")
        assert answer.status_code == 401, (secret, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert Scim(live, scim_token)("GET", "/Users").status_code == 200


def test_a_token_stops_working_when_its_days_pass_by_the_hubs_clock(live: LiveHub) -> None:
    clock = movable_clock(live.app)
    with live.context() as session:
        created = tokens.create(session, scope="scim", name="a-day", expires_days=1, all_orgs=True)
        session.commit()
    assert Scim(live, created.secret)("GET", "/Users").status_code == 200
    clock.advance(days=1, seconds=1)
    assert Scim(live, created.secret)("GET", "/Users").status_code == 401


def test_tokens_are_stored_only_as_their_hash(live: LiveHub, scim_token: str) -> None:
    with live.context() as session:
        row = session.scalar(select(ApiToken))
        assert row.token_hash == token_hash(scim_token) and scim_token not in (row.prefix, row.name)
        assert scim_token.startswith("hubt_") and row.prefix == scim_token[:11]


def test_create_answers_201_with_location_etag_and_stores_external_id_as_lms_account(scim: Scim) -> None:
    answer = scim("POST", "/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "userName": "ada@partner.example", "externalId": "lms-42",
                                          "name": {"givenName": "Ada", "familyName": "Lovelace"}})
    assert answer.status_code == 201, answer.text
    assert answer.headers["Content-Type"].startswith("application/scim+json")
    body = answer.json()
    assert answer.headers["Location"] == body["meta"]["location"] == f"{scim.hub.url}/scim/v2/Users/{body['id']}"
    assert answer.headers["ETag"] == body["meta"]["version"]
    with scim.hub.context() as session:
        account = session.scalar(select(LmsAccount))
        assert (account.home_page, account.external_id, account.user_id) == (HOME_PAGE, "lms-42", int(body["id"]))
        assert session.get(User, int(body["id"])).email == "ada@partner.example"


def test_duplicate_user_name_is_409_uniqueness_and_changes_nothing(scim: Scim) -> None:
    new_user(scim, "ada@partner.example")
    answer = scim("POST", "/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "userName": "ADA@partner.example"})
    assert answer.status_code == 409 and answer.json()["scimType"] == "uniqueness", answer.text
    assert scim("GET", "/Users").json()["totalResults"] == 1


@pytest.mark.parametrize("expression", ['userName eq', 'userName xx "a"', 'nickName eq "a"', '(userName eq "a"'])
def test_a_bad_filter_is_400_invalid_filter(scim: Scim, expression: str) -> None:
    answer = scim("GET", "/Users", params={"filter": expression})
    assert answer.status_code == 400 and answer.json()["scimType"] == "invalidFilter", answer.text


def test_filters_and_paging(scim: Scim) -> None:
    for n in range(5):
        new_user(scim, f"user{n}@partner.example", external_id=f"ext-{n}", displayName=f"User {n}")
    new_user(scim, "other@else.example", displayName="Somebody 100%_")

    def names(expression: str, **params: str) -> list[str]:
        answer = scim("GET", "/Users", params={"filter": expression, **params})
        assert answer.status_code == 200, answer.text
        return [r["userName"] for r in answer.json().get("Resources", [])]

    assert names('userName eq "USER1@partner.example"') == ["user1@partner.example"]
    assert names('emails.value co "else"') == ["other@else.example"]
    assert names('userName sw "user3"') == ["user3@partner.example"]
    assert names('externalId eq "ext-4"') == ["user4@partner.example"]
    assert names('displayName co "100%_"') == ["other@else.example"]  # % and _ are not wildcards
    assert names('displayName co "1_0"') == []  # would match "100" if _ were a wildcard
    assert names('externalId eq "ext-0" or externalId eq "ext-2"') == ["user0@partner.example", "user2@partner.example"]
    assert names('userName sw "user" and not (externalId eq "ext-0")')[0] == "user1@partner.example"
    assert len(names('externalId pr')) == 5
    page = scim("GET", "/Users", params={"startIndex": "2", "count": "2"}).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (6, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["user1@partner.example", "user2@partner.example"]


def test_groups_are_organisations_and_members_move_between_them(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example")
    first = scim("POST", "/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                          "displayName": "Partner", "members": [{"value": ada["id"]}]}).json()
    second = scim("POST", "/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                           "displayName": "Customer"}).json()
    answer = scim("PATCH", f"/Groups/{second['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": ada["id"]}]}]})
    assert answer.status_code == 200, answer.text
    with scim.hub.context() as session:
        assert session.get(User, int(ada["id"])).org_id == int(second["id"])
        assert session.get(Organisation, int(second["id"])).name == "Customer"
    assert "members" not in scim("GET", f"/Groups/{first['id']}").json()
    assert scim("GET", f"/Users/{ada['id']}").json()["groups"][0]["value"] == second["id"]


def test_patch_active_false_ends_the_session_and_skips_waiting_posts(live: LiveHub, scim: Scim) -> None:
    live.add_provider("google")
    browser = Browser(live)
    assert browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False).status_code == 302
    assert signed_in(browser)
    with live.context() as session:
        user = session.scalar(select(User))
        session.add(Delivery(key="k1", user_id=user.id, destination="linkedin:me", status="pending"))
        session.commit()
        user_id = user.id
    answer = scim("PATCH", f"/Users/{user_id}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert answer.status_code == 200 and answer.json()["active"] is False, answer.text
    assert not signed_in(browser)  # the very next request: refused
    with live.context() as session:
        assert session.scalar(select(Delivery.status)) == "skipped"
    answer = scim("PATCH", f"/Users/{user_id}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": True}}]})
    assert answer.json()["active"] is True
    with live.context() as session:
        assert session.get(User, user_id).status == "active"


def test_delete_erases_and_then_404(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example")
    assert scim("DELETE", f"/Users/{ada['id']}").status_code == 204
    answer = scim("GET", f"/Users/{ada['id']}")
    assert answer.status_code == 404 and answer.json()["status"] == "404"
    assert scim("GET", "/Users").json()["totalResults"] == 0

"""Microsoft Entra ID sign-in end to end: msal against the Microsoft sandbox over HTTPS."""
from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import func, select

from hub import orgs
from hub.models import Identity, MailMessage, Organisation, User
from providers.microsoft import PERSONAL_TENANT
from providers.microsoft.sandbox import CONTOSO, FABRIKAM, USERS, pairwise_sub
from tests.live import Browser, LiveHub, csrf_token

MEGAN, ALEX, EVE, PAT = (next(u for u in USERS if u["sub"] == key)
                         for key in ("contoso-megan", "fabrikam-alex", "fabrikam-eve", "personal-pat"))


def confirm_by_mail(live: LiveHub, browser: Browser, answer_location: str, email: str) -> str:
    """Microsoft's email is never trusted: name one, open the mailed link, confirm; returns where we land."""
    assert answer_location == "/auth/email"
    form = browser.get("/auth/email")
    sent = browser.post("/auth/email", data={"csrf_token": csrf_token(form.text), "email": email})
    assert sent.status_code == 200 and "We sent a link" in sent.text
    with live.context() as session:
        body = session.scalar(select(MailMessage.body).where(MailMessage.to == email))
    link = re.search(r"https?://\S+/auth/confirm/\S+", body or "")
    assert link, body
    page = browser.get(link.group(0))
    done = browser.post(link.group(0), data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 302, done.text
    return done.headers["Location"]


def identity_of(live: LiveHub, subject: str) -> Identity | None:
    with live.context() as session:
        identity = session.scalar(select(Identity).where(Identity.provider == "microsoft",
                                                         Identity.subject == subject))
        if identity is not None:
            session.expunge(identity)
        return identity


def test_work_account_signs_in_over_https_keyed_on_tid_and_oid(
        live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    client_id = add_microsoft()
    browser = Browser(live)
    start = browser.start_login("microsoft", next="/account")
    authorize = start.headers["Location"]
    assert authorize.startswith("https://127.0.0.1:") and "/sandbox/microsoft/common/oauth2/v2.0/authorize" in authorize
    assert "code_challenge_method=S256" in authorize and "nonce=" in authorize
    answer = browser.http.get(browser.pick_user(authorize, MEGAN["sub"]), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert confirm_by_mail(live, browser, answer.headers["Location"], "megan@contoso.example") == "/account"
    assert "megan@contoso.example" in browser.get("/account").text
    identity = identity_of(live, f"{CONTOSO}:{MEGAN['oid']}")
    assert identity is not None and identity.email_verified is False
    assert identity.claims["tid"] == CONTOSO and identity.claims["ver"] == "2.0"
    # `sub` is pairwise (per app), which is why it is not the key.
    assert identity.claims["sub"] == pairwise_sub(client_id, MEGAN["oid"]) != MEGAN["oid"]
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "megan@contoso.example"))
        assert user is not None and user.name == "Megan Bowen"
    # Signing in again finds the identity by tid:oid: no new mail round, no new user.
    again = Browser(live).sign_in("microsoft", user=MEGAN["sub"], next="/account")
    assert again.status_code == 302 and again.headers["Location"] == "/account"
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_personal_account_signs_in_with_the_consumer_tenant(live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft()
    browser = Browser(live)
    answer = browser.sign_in("microsoft", user=PAT["sub"], next="/account")
    assert answer.status_code == 302, answer.text
    assert confirm_by_mail(live, browser, answer.headers["Location"], "pat@outlook.example") == "/account"
    identity = identity_of(live, f"{PERSONAL_TENANT}:{PAT['oid']}")
    assert identity is not None
    assert identity.claims["iss"].endswith(f"/sandbox/microsoft/{PERSONAL_TENANT}/v2.0")


def test_tenant_allow_list_refuses_other_tenants_and_creates_nothing(
        live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft(tenant_allow=[CONTOSO])
    refused = Browser(live).sign_in("microsoft", user=ALEX["sub"])
    assert refused.status_code == 400
    assert "organisation is not allowed" in refused.text
    personal = Browser(live).sign_in("microsoft", user=PAT["sub"])
    assert personal.status_code == 400
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
        assert session.scalar(select(func.count()).select_from(Identity)) == 0
    allowed = Browser(live).sign_in("microsoft", user=MEGAN["sub"])
    assert allowed.status_code == 302 and allowed.headers["Location"] == "/auth/email"


def test_token_whose_iss_names_another_tenant_than_its_tid_is_refused(
        live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft()
    sandbox = live.sandboxes["microsoft"]

    def other_tenant(claims: dict) -> dict:
        return {**claims, "iss": claims["iss"].replace(claims["tid"], FABRIKAM)}

    sandbox.faults.id_token_claims = other_tenant
    refused = Browser(live).sign_in("microsoft", user=MEGAN["sub"])
    assert refused.status_code == 400
    assert "ID token failed a check (iss)" in refused.text
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 0
    sandbox.faults.id_token_claims = None
    assert Browser(live).sign_in("microsoft", user=MEGAN["sub"]).status_code == 302


def test_token_for_another_tenant_is_refused_by_a_single_tenant_provider(
        live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft(tenant=CONTOSO)
    sandbox = live.sandboxes["microsoft"]
    # A consistent token (iss matches tid) from Fabrikam, arriving at a Contoso-only sign-in.
    sandbox.faults.id_token_claims = lambda claims: {
        **claims, "tid": FABRIKAM, "iss": claims["iss"].replace(CONTOSO, FABRIKAM)}
    refused = Browser(live).sign_in("microsoft", user=MEGAN["sub"])
    assert refused.status_code == 400
    assert "tenant this sign-in is not configured for" in refused.text


def test_single_tenant_authority_rejects_other_tenants_accounts_at_microsoft(
        live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft(tenant=CONTOSO)
    browser = Browser(live)
    start = browser.start_login("microsoft")
    assert f"/sandbox/microsoft/{CONTOSO}/oauth2/v2.0/authorize" in start.headers["Location"]
    answer = browser.http.get(browser.pick_user(start.headers["Location"], ALEX["sub"]), allow_redirects=False)
    assert answer.status_code == 400 and "did not sign you in (access_denied)" in answer.text


def test_forged_and_tampered_tokens_are_refused(live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft()
    sandbox = live.sandboxes["microsoft"]
    sandbox.faults.id_token_header = {"alg": "none"}
    assert "algorithm we do not accept" in Browser(live).sign_in("microsoft", user=MEGAN["sub"]).text
    sandbox.faults.id_token_header = None
    sandbox.faults.id_token_claims = lambda claims: {**claims, "aud": "someone-else"}
    assert "(aud)" in Browser(live).sign_in("microsoft", user=MEGAN["sub"]).text
    sandbox.faults.id_token_claims = lambda claims: {**claims, "nonce": "replayed"}
    assert "ID token failed a check (nonce)" in Browser(live).sign_in("microsoft", user=MEGAN["sub"]).text
    sandbox.faults.id_token_claims = lambda claims: {k: v for k, v in claims.items() if k != "tid"}
    assert "names no Microsoft tenant" in Browser(live).sign_in("microsoft", user=MEGAN["sub"]).text
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 0


def test_unverified_email_of_an_existing_user_does_not_link(live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft()
    with live.context() as session:
        session.add(User(email="ada@partner.example", email_verified=True, name="Ada Lovelace", groups=[]))
        session.commit()
    refused = Browser(live).sign_in("microsoft", user=EVE["sub"])
    # The pipeline refuses (403) and tells the person to sign in the usual way, then link.
    assert refused.status_code == 403
    assert "An account with this email already exists" in refused.text
    with live.context() as session:
        ada = session.scalar(select(User).where(User.email == "ada@partner.example"))
        assert ada is not None and ada.identities == []
        assert session.scalar(select(func.count()).select_from(Identity)) == 0
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_tid_mapping_places_the_user_in_the_organisation(live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    add_microsoft()
    with live.context() as session:
        org = orgs.add_org(session, "Contoso Partners", [], "open")
        session.flush()
        orgs.add_mapping(session, "microsoft", "tid", CONTOSO, org, None)
        session.commit()
    browser = Browser(live)
    answer = browser.sign_in("microsoft", user=MEGAN["sub"], next="/account")
    assert confirm_by_mail(live, browser, answer.headers["Location"], "megan@contoso.example") == "/account"
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "megan@contoso.example"))
        assert user is not None and user.org is not None and user.org.name == "Contoso Partners"
        assert session.scalar(select(Organisation).where(Organisation.name == "Contoso Partners")) is not None


def test_sandbox_speaks_entra(live: LiveHub, tls_url: str) -> None:
    """Discovery's issuer template, per-tenant issuers, and Entra's error body shape."""
    http = Browser(live).http
    common = http.get(f"{tls_url}/sandbox/microsoft/common/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{tls_url}/sandbox/microsoft/{{tenantid}}/v2.0"
    assert common["token_endpoint"] == f"{tls_url}/sandbox/microsoft/common/oauth2/v2.0/token"
    one = http.get(f"{tls_url}/sandbox/microsoft/{CONTOSO}/v2.0/.well-known/openid-configuration").json()
    assert one["issuer"] == f"{tls_url}/sandbox/microsoft/{CONTOSO}/v2.0"
    assert http.get(f"{tls_url}/sandbox/microsoft/discovery/v2.0/keys").json()["keys"]
    unknown = http.get(f"{tls_url}/sandbox/microsoft/nope/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400 and unknown.json()["error_codes"] == [90002]
    bad = http.post(f"{tls_url}/sandbox/microsoft/common/oauth2/v2.0/token",
                    data={"grant_type": "authorization_code", "code": "x", "client_id": "nobody",
                          "client_secret": "wrong"})
    body = bad.json()
    assert bad.status_code == 401 and body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215:") and body["error_codes"] == [7000215]
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()

"""The generic `oidc` kind end to end against a real OpenID Provider (panva's oidc-provider).

The hub is configured the way an admin does it (`hub provider add --kind oidc --issuer URL`) and
learns everything else from discovery. A requests session walks oidc-provider's own login and
consent pages (devInteractions), so the OP's real behaviour is under test: RFC 9207 `iss`,
client_secret_basic, PKCE S256, ID tokens signed by its current key, userinfo.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

from click.testing import CliRunner
from sqlalchemy import select

from hub.models import AuditEvent, Identity, PendingSignup, User
from tests.live import Browser, LiveHub, forms
from tests.providers.oidc.conftest import OpenIDProvider

USER = "op-user-1"  # known to server.js's findAccount, with a verified email


def add_oidc(live: LiveHub, name: str, issuer: str, op: OpenIDProvider) -> None:
    """Configure the provider through the admin CLI: the issuer URL alone, plus the client credentials."""
    from hub.cli import main

    result = CliRunner().invoke(main, ["provider", "add", name, "--kind", "oidc", "--issuer", issuer,
                                       "--client-id", op.client_id, "--client-secret", op.client_secret],
                                env=live.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def authorize_at_op(browser: Browser, authorize_url: str, user: str, callback: str) -> str:
    """Walk oidc-provider's redirects and its login and consent forms; return the callback URL it sends us to."""
    answer = browser.http.get(authorize_url, allow_redirects=False)
    for _ in range(12):
        if answer.status_code in (302, 303):
            location = urljoin(answer.url, answer.headers["Location"])
            if location.startswith(callback):
                return location
            answer = browser.http.get(location, allow_redirects=False)
            continue
        assert answer.status_code == 200, answer.text
        form = forms(answer.text)[0]
        fields = dict(form["fields"])
        if fields.get("prompt") == "login":  # devInteractions takes any password; the login is the account id
            fields.update(login=user, password="any")
        answer = browser.http.post(urljoin(answer.url, form["action"]), data=fields, allow_redirects=False)
    raise AssertionError(f"oidc-provider's pages never sent the browser back to {callback}")


def sign_in(live: LiveHub, name: str, user: str = USER, **params: str) -> tuple[Browser, str, object]:
    """A fresh browser signs in through the OP; returns it, the callback URL and the hub's answer."""
    browser = Browser(live)
    start = browser.start_login(name, **params)
    callback = authorize_at_op(browser, start.headers["Location"], user, f"{live.url}/auth/{name}/callback")
    return browser, callback, browser.http.get(callback, allow_redirects=False)


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def id_token_of(live: LiveHub, name: str, subject: str) -> str:
    """The ID token the hub stored (sealed) for an identity at its last sign-in."""
    with live.context() as session:
        identity = session.scalar(select(Identity).where(Identity.provider == name, Identity.subject == subject))
        assert identity is not None and identity.tokens_sealed
        opened = live.app.extensions["vault"].open(identity.tokens_sealed, identity.seal_context)
    return json.loads(opened)["id_token"]


def failures(live: LiveHub) -> list[str | None]:
    with live.context() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "login", AuditEvent.outcome == "failure"))
        return [row.reason for row in rows]


def test_sign_in_creates_user_with_identity(live: LiveHub, op: OpenIDProvider) -> None:
    add_oidc(live, "acme", op.issuer, op)
    browser = Browser(live)
    start = browser.start_login("acme", next="/account")
    authorize = start.headers["Location"]
    # Endpoint, PKCE and nonce all come from discovery and the OIDC flow, not from configuration.
    assert authorize.startswith(f"{op.issuer}/auth?")
    params = query(authorize)
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["client_id"] == op.client_id and params["nonce"] and params["state"]
    assert set(params["scope"].split()) == {"openid", "email", "profile"}

    callback = authorize_at_op(browser, authorize, USER, f"{live.url}/auth/acme/callback")
    assert query(callback)["iss"] == op.issuer  # oidc-provider sends RFC 9207 `iss`
    answer = browser.http.get(callback, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/account"
    assert "ophelia@op.example" in browser.get("/account").text

    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "ophelia@op.example"))
        assert user is not None and user.email_verified and user.name == "Ophelia Provider"
        identity = session.scalar(select(Identity).where(Identity.user_id == user.id))
        assert (identity.provider, identity.subject) == ("acme", USER)
    # oidc-provider keeps email and name out of the ID token when it issues an access token
    # (conformIdTokenClaims): the hub has them only because it read userinfo.
    claims = _claims_of(id_token_of(live, "acme", USER))
    assert claims["sub"] == USER and "email" not in claims and "name" not in claims
    state = op.state()
    assert state["token_auth"] == ["basic"]  # client_secret_basic, chosen from discovery
    assert state["counts"]["GET /me"] == 1  # userinfo was read (and its sub matched the ID token's)
    assert state["counts"]["GET /jwks"] == 1


def test_unverified_email_from_userinfo_is_confirmed_before_anything_is_created(live: LiveHub,
                                                                                op: OpenIDProvider) -> None:
    add_oidc(live, "acme", op.issuer, op)
    browser, _callback, answer = sign_in(live, "acme", user="op-user-2")  # email_verified: false
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/auth/email"
    assert browser.get("/auth/email").status_code == 200
    with live.context() as session:
        assert session.scalar(select(User)) is None
        assert session.scalar(select(Identity)) is None
        signup = session.scalar(select(PendingSignup))
        parked = json.loads(live.app.extensions["vault"].open(signup.payload_sealed, signup.seal_context))
    # The email came from userinfo (it is not in the ID token) and was kept as unverified.
    assert parked["profile"]["email"] == "otto@op.example" and parked["profile"]["email_verified"] is False
    assert "email" not in _claims_of(parked["tokens"]["id_token"])


def test_response_with_another_issuer_is_refused_before_the_token_request(live: LiveHub, op: OpenIDProvider) -> None:
    add_oidc(live, "acme", op.issuer, op)
    browser = Browser(live)
    start = browser.start_login("acme")
    callback = authorize_at_op(browser, start.headers["Location"], USER, f"{live.url}/auth/acme/callback")
    params = query(callback)
    params["iss"] = f"{live.url}/sandbox/oidc"  # another provider's issuer: a mix-up
    parts = urlsplit(callback)
    answer = browser.http.get(urlunsplit(parts._replace(query=urlencode(params))), allow_redirects=False)
    assert answer.status_code == 400
    assert "unexpected issuer" in answer.text
    assert op.count("POST /token") == 0  # the code was never redeemed
    assert failures(live) == ["issuer_mismatch"]
    with live.context() as session:
        assert session.scalar(select(User)) is None


def test_response_without_iss_is_refused_when_the_op_advertises_it(live: LiveHub, op: OpenIDProvider) -> None:
    # RFC 9207 2.4: discovery says authorization_response_iss_parameter_supported, so a response
    # without `iss` (stripped by an attacker in a mix-up) must be refused, not waved through.
    add_oidc(live, "acme", op.issuer, op)
    browser = Browser(live)
    start = browser.start_login("acme")
    callback = authorize_at_op(browser, start.headers["Location"], USER, f"{live.url}/auth/acme/callback")
    params = query(callback)
    del params["iss"]
    parts = urlsplit(callback)
    answer = browser.http.get(urlunsplit(parts._replace(query=urlencode(params))), allow_redirects=False)
    assert answer.status_code == 400
    assert op.count("POST /token") == 0
    assert failures(live) == ["issuer_missing"]


def test_discovery_naming_another_issuer_is_refused(live: LiveHub, op: OpenIDProvider) -> None:
    # Same server, but the admin typed localhost: discovery says 127.0.0.1, and an issuer must match exactly.
    localhost = op.issuer.replace("127.0.0.1", "localhost")
    add_oidc(live, "acme-localhost", localhost, op)
    browser = Browser(live)
    answer = browser.get("/login/acme-localhost")
    assert answer.status_code == 502
    assert op.count("GET /.well-known/openid-configuration") == 1
    assert op.count("GET /auth") == 0  # never sent to the OP
    assert failures(live) == ["discovery_issuer_mismatch"]


def test_issuer_typed_with_a_trailing_slash_still_signs_in(live: LiveHub, op: OpenIDProvider) -> None:
    # Auth0's issuer ends in "/", Keycloak's does not; discovery settles which one ID tokens carry.
    add_oidc(live, "acme", op.issuer + "/", op)
    assert sign_in(live, "acme")[2].status_code == 302
    with live.context() as session:
        _row, provider = live.app.extensions["providers"].get(session, "acme")
    assert provider.issuer_values() == {op.issuer}  # exact from then on


def test_issuer_ending_in_a_slash_is_matched_exactly(live: LiveHub, op: OpenIDProvider) -> None:
    # Auth0's issuer is "https://tenant.auth0.com/": discovery, ID tokens and `iss` all carry the "/".
    issuer = op.reset(trailing_slash=True)
    op.allow_redirects([f"{live.url}/auth/acme/callback"])
    assert issuer == op.issuer + "/"
    add_oidc(live, "acme", issuer, op)
    _browser, callback, answer = sign_in(live, "acme")
    assert query(callback)["iss"] == issuer
    assert answer.status_code == 302, answer.text
    assert _claims_of(id_token_of(live, "acme", USER))["iss"] == issuer


def test_key_rotated_between_logins_is_fetched_once(live: LiveHub, op: OpenIDProvider) -> None:
    add_oidc(live, "acme", op.issuer, op)
    assert sign_in(live, "acme")[2].status_code == 302
    assert op.count("GET /jwks") == 1
    # An abrupt rotation: key-2 signs at once and key-1 is gone. The hub has never seen key-2.
    op.set_keys(published=["key-2"], signing="key-2")
    _browser, _callback, answer = sign_in(live, "acme")
    assert answer.status_code == 302, answer.text
    assert _header_of(id_token_of(live, "acme", USER))["kid"] == "key-2"
    assert op.count("GET /jwks") == 2  # one refetch for the unknown kid
    assert sign_in(live, "acme")[2].status_code == 302
    assert op.count("GET /jwks") == 2  # and key-2 is cached from then on


def test_new_key_published_before_it_signs(live: LiveHub, op: OpenIDProvider) -> None:
    add_oidc(live, "acme", op.issuer, op)
    assert sign_in(live, "acme")[2].status_code == 302
    # 1. key-2 is published next to key-1, which still signs: nothing changes for the hub.
    op.set_keys(published=["key-1", "key-2"], signing="key-1")
    assert sign_in(live, "acme")[2].status_code == 302
    old_token = id_token_of(live, "acme", USER)
    assert _header_of(old_token)["kid"] == "key-1"
    assert op.count("GET /jwks") == 1
    # 2. key-2 starts signing; key-1 stays published until the tokens it signed expire.
    op.set_keys(published=["key-2", "key-1"], signing="key-2")
    assert sign_in(live, "acme")[2].status_code == 302
    assert _header_of(id_token_of(live, "acme", USER))["kid"] == "key-2"
    assert op.count("GET /jwks") == 2
    # A token key-1 signed before the switch still verifies against the refreshed key set.
    with live.context() as session:
        _row, provider = live.app.extensions["providers"].get(session, "acme")
    assert provider.validate_id_token(old_token, _claims_of(old_token)["nonce"])["sub"] == USER
    # 3. key-1 is retired: the hub already holds key-2 and fetches nothing.
    op.set_keys(published=["key-2"], signing="key-2")
    assert sign_in(live, "acme")[2].status_code == 302
    assert op.count("GET /jwks") == 2


def test_unpublished_signing_key_is_refused_after_one_refetch(live: LiveHub, op: OpenIDProvider) -> None:
    add_oidc(live, "acme", op.issuer, op)
    assert sign_in(live, "acme")[2].status_code == 302
    with live.context() as session:
        users_before = len(session.scalars(select(User)).all())
    op.set_keys(published=["key-1"], signing="rogue")  # signs with a key the JWKS never lists
    answer = sign_in(live, "acme")[2]
    assert answer.status_code == 400
    assert "signature does not verify" in answer.text
    assert op.count("GET /jwks") == 2  # looked once for the unknown kid
    assert sign_in(live, "acme")[2].status_code == 400
    assert op.count("GET /jwks") == 2  # and does not hammer the OP for it
    assert failures(live) == ["invalid_id_token", "invalid_id_token"]
    with live.context() as session:
        assert len(session.scalars(select(User)).all()) == users_before


def _header_of(token: str) -> dict[str, object]:
    from joserfc import jws

    return dict(jws.extract_compact(token.encode()).headers())


def _claims_of(token: str) -> dict[str, object]:
    """The payload, unverified: only to read what the OP put in it."""
    from joserfc import jws

    return json.loads(jws.extract_compact(token.encode()).payload)

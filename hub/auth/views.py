"""Sign-in routes: the sign-in page, /login/<provider>, /auth/<provider>/callback, email confirmation."""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from hub import audit, clock, db, emails, mail, orgs, provider_store, rate_limits, redirect_uris, redis_conn
from hub.auth import pipeline, state, throttle
from hub.auth.redirects import safe_next
from hub.auth.sessions import current_user, sign_in, sign_out
from hub.auth.throttle import InviteThrottle
from hub.crypto import new_token, token_hash
from hub.errors import LoginRejected
from hub.models import PendingSignup, ProviderConfig, UserStatus
from providers import registry
from providers.base import LoginError, Profile, ProviderError

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
PENDING_SIGNUP_TTL = timedelta(minutes=30)


def _settings() -> Any:
    return current_app.extensions["settings"]


def redirect_uri(provider: str) -> str:
    """Built from HUB_BASE_URL, never from the Host header a client controls."""
    return redirect_uris.sign_in(_settings().base_url, provider)


def fail(message: str, *, code: str, provider: str | None = None, status: int = 400,
         user_id: int | None = None) -> tuple[str, int]:
    """Roll back, audit, and show a clear error page with a reference id; no session survives."""
    db.session().rollback()
    ref = audit.record("login", "failure", provider=provider, reason=code, detail={"message": message},
                       user_id=user_id)
    return render_template("error.html", title="Sign-in failed", message=message, ref=ref), status


@bp.get("/login")
def login_page() -> str:
    next_url = safe_next(request.args.get("next"), _settings().lms_origins)
    rows = provider_store.listed(db.session())
    buttons = [(row, provider_store.brand_of(row)) for row in rows]
    return render_template("login.html", buttons=buttons, next_url=next_url, invite=request.args.get("invite", ""),
                           email=request.args.get("email", ""), error=None, lms=_waiting_lms(next_url))


def _waiting_lms(next_url: str | None) -> str | None:
    """The LMS whose sign-in request this page serves (hub.idp.handoff), so the page can name it."""
    from hub.idp import handoff

    return handoff.client_name(next_url)


@bp.post("/login")
def discover_home_realm() -> Any:
    """Home-realm discovery: an email of a known domain goes straight to its organisation's provider."""
    email = request.form.get("email", "").strip()
    next_url = safe_next(request.form.get("next"), _settings().lms_origins)
    invite = request.form.get("invite", "")
    domain = orgs.org_for_domain(db.session(), orgs.email_domain(email))
    if domain is not None and domain.provider:
        return redirect(url_for("auth.begin", provider=domain.provider, next=next_url, invite=invite or None,
                                login_hint=email))
    rows = provider_store.listed(db.session())
    buttons = [(row, provider_store.brand_of(row)) for row in rows]
    error = ("Enter an email address like name@example.com." if "@" not in email
             else "We don't know a sign-in for that address yet. Choose a provider below.")
    return render_template("login.html", buttons=buttons, next_url=next_url, invite=invite, email=email,
                           error=error, lms=_waiting_lms(next_url)), 200 if "@" in email else 400


@bp.get("/login/<provider>")
def begin(provider: str) -> Any:
    rate_limits.login_started()  # per address, before any work: each start stores a state in Redis
    found = current_app.extensions["providers"].get(db.session(), provider)
    if found is None:
        return fail("That sign-in method is not available.", code="provider_unavailable", provider=provider,
                    status=404)
    row, instance = found
    linking = request.args.get("link") == "1"
    user = current_user()
    if linking and user is None:
        return redirect(url_for("auth.login_page", next=request.full_path))
    if row.hidden and not linking:
        return fail("That sign-in method can only be linked from your account page.", code="provider_link_only",
                    provider=provider, status=404)
    try:
        start = instance.begin_login(redirect_uri(provider))
    except LoginError as exc:  # the provider answered, but wrongly (e.g. discovery names another issuer)
        return fail(f"{instance.brand.label} is misconfigured: {exc.message} "
                    "The failure was recorded for an administrator.", code=exc.code, provider=provider, status=502)
    except ProviderError as exc:
        return fail(f"{provider} cannot be reached right now. Try again in a minute.", code=exc.code,
                    provider=provider, status=502)
    url = start.url
    if request.args.get("login_hint"):
        url += ("&" if "?" in url else "?") + "login_hint=" + _quote(request.args["login_hint"][:320])
    state.save(start.state, state.PendingLogin(
        provider=provider, saved=dict(start.saved), binding=state.browser_binding(),
        next_url=safe_next(request.args.get("next"), _settings().lms_origins),
        link_user_id=user.id if linking and user else None, invite=request.args.get("invite") or None,
    ))
    return redirect(url)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="@")


@bp.get("/auth/<provider>/callback")
def callback(provider: str) -> Any:
    pending = state.consume(request.args.get("state"))
    if pending is None or pending.provider != provider:
        # Unknown, reused, expired, from another browser, or meant for another provider's callback.
        return fail("This sign-in link is invalid or was already used. Please start again.",
                    code="invalid_state", provider=provider)
    found = current_app.extensions["providers"].get(db.session(), provider)
    if found is None:
        return fail("That sign-in method is not available.", code="provider_unavailable", provider=provider,
                    status=404)
    row, instance = found
    try:
        result = instance.finish_login(request.args, pending.saved, redirect_uri(provider))
    except LoginError as exc:
        return fail(exc.message, code=exc.code, provider=provider)
    except ProviderError as exc:
        return fail(f"{instance.brand.label} could not finish the sign-in. Please try again.", code=exc.code,
                    provider=provider, status=502)
    return _provision(row, result.profile, result.tokens, pending)


def _provision(row: ProviderConfig, profile: Profile, tokens: Any, pending: state.PendingLogin,
               confirmed_email: str | None = None, retry: bool = True) -> Any:
    session_db = db.session()
    linking_user = current_user() if pending.link_user_id else None
    if pending.link_user_id and (linking_user is None or linking_user.id != pending.link_user_id):
        return fail("Sign in again to link another account.", code="link_session_lost", provider=row.name)
    ctx = pipeline.Context(db=session_db, vault=current_app.extensions["vault"], provider=row, profile=profile,
                           tokens=tokens, admin_emails=_settings().admin_emails, linking_user=linking_user,
                           invite_code=pending.invite, confirmed_email=confirmed_email,
                           invite_throttle=InviteThrottle(redis_conn.get(), request.remote_addr or "unknown"))
    try:
        pipeline.run(ctx)
        user = ctx.user
        assert user is not None
        action = "link" if linking_user else "login"
        # The audit row joins the provisioning transaction: one commit per sign-in.
        audit.record(action, "success", user_id=user.id, actor=user.email, provider=row.name,
                     detail={"created": ctx.created, "status": user.status}, commit=False)
        session_db.commit()
    except IntegrityError:
        # Two first sign-ins of one identity (or one email) raced; the other won. Once more finds its rows.
        session_db.rollback()
        if not retry:
            raise
        return _provision(row, profile, tokens, pending, confirmed_email, retry=False)
    except pipeline.EmailNeeded as exc:
        session_db.rollback()
        return _ask_for_email(row, profile, tokens, pending, exc.suggested)
    except LoginRejected as exc:
        refused = fail(exc.reason, code=exc.code, provider=row.name, status=getattr(exc, "status", 403),
                       user_id=exc.user_id)
        return _lms_refused(pending) or refused
    if user.status == UserStatus.PENDING:
        sign_out()
        return _lms_refused(pending) or (render_template("pending.html", org=user.org), 202)
    if not linking_user:
        sign_in(user, row.name)
    return redirect(pending.next_url)


def _lms_refused(pending: state.PendingLogin) -> Any:
    """An LMS waits on this sign-in (hub.idp): a refusal goes back to it as OAuth access_denied."""
    from hub.idp import handoff

    return redirect(pending.next_url + "?denied=1") if handoff.is_resume_path(pending.next_url) else None


def _ask_for_email(row: ProviderConfig, profile: Profile, tokens: Any, pending: state.PendingLogin,
                   suggested: str | None) -> Any:
    """Park the sign-in (sealed) until the user confirms an email; nothing else is created."""
    vault = current_app.extensions["vault"]
    signup = PendingSignup(provider=row.name, subject=profile.subject, payload_sealed="", email=suggested,
                           expires_at=clock.now() + PENDING_SIGNUP_TTL)
    payload = {"profile": _profile_dict(profile), "tokens": dict(tokens), "next": pending.next_url,
               "invite": pending.invite}
    signup.payload_sealed = vault.seal(json.dumps(payload), signup.seal_context)
    with db.transaction() as session_db:
        session_db.add(signup)
    session["pending_signup"] = signup.id
    audit.record("login", "email_needed", provider=row.name)
    return redirect(url_for("auth.email_form"))


def _profile_dict(profile: Profile) -> dict[str, Any]:
    return {"subject": profile.subject, "email": profile.email, "email_verified": profile.email_verified,
            "name": profile.name, "given_name": profile.given_name, "family_name": profile.family_name,
            "picture": profile.picture, "hints": dict(profile.hints), "claims": dict(profile.claims)}


def _pending_signup() -> PendingSignup | None:
    signup_id = session.get("pending_signup")
    signup = db.session().get(PendingSignup, signup_id) if signup_id else None
    if signup is None or signup.used_at is not None or _expired(signup.expires_at):
        return None
    return signup


def _expired(moment: datetime) -> bool:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment < clock.now()  # the app's clock: tests move it to expire a parked sign-in


@bp.route("/auth/email", methods=["GET", "POST"])
def email_form() -> Any:
    """The provider gave no usable email: the user names one, and we mail a one-time link to it."""
    signup = _pending_signup()
    if signup is None:
        return render_template("error.html", title="Sign-in expired",
                               message="This sign-in has expired. Please start again.", ref=None), 400
    if request.method == "GET":
        return render_template("email.html", email=signup.email or "", error=None, sent=False)
    email = request.form.get("email", "").strip().lower()
    if not emails.mailable(email):  # the hub's one policy (hub/emails.py), and an address it may send mail to
        return render_template("email.html", email=email, error="Enter an email address like name@example.com.",
                               sent=False), 400
    email = emails.normalise(email)
    try:
        throttle.limit_confirmation_mail(redis_conn.get(), request.remote_addr or "unknown", signup.id)
    except throttle.TooManyAttempts as exc:
        return render_template("email.html", email=email, error=exc.reason, sent=False), 429
    token = new_token()
    with db.transaction():
        signup.email, signup.token_hash = email, token_hash(token)
        link = f"{_settings().base_url}{url_for('auth.confirm_email', token=token)}"
        message_id = mail.queue(email, "Confirm your email to finish signing in",
                                f"Open this link to confirm {email} and finish signing in:\n\n{link}\n\n"
                                "It works once, for 30 minutes. If you did not try to sign in, ignore this message.")
    mail.enqueue(message_id)  # after the commit; if Redis is down, the worker's flush sends it
    return render_template("email.html", email=email, error=None, sent=True)


@bp.route("/auth/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> Any:
    """GET shows a button (mail scanners follow links); POST confirms and finishes the sign-in."""
    signup = db.session().scalar(select(PendingSignup).where(PendingSignup.token_hash == token_hash(token)))
    if signup is None or signup.used_at is not None or _expired(signup.expires_at) or not signup.email:
        return fail("This confirmation link is invalid, expired or already used.", code="invalid_confirmation")
    if session.get("pending_signup") != signup.id:
        # Whoever typed the address could be someone else: the link only confirms in the browser that
        # signed in with the provider, so a stranger's click cannot attach an attacker's account to theirs.
        return fail("Open this link in the browser where you started signing in, and confirm there.",
                    code="confirmation_other_browser", provider=signup.provider)
    if request.method == "GET":
        brand = provider_store.brand_by_name(db.session(), signup.provider)
        return render_template("confirm.html", email=signup.email, provider=brand.label if brand else signup.provider)
    vault = current_app.extensions["vault"]
    payload = json.loads(vault.open(signup.payload_sealed, signup.seal_context))
    claimed = cast(CursorResult[Any], db.session().execute(update(PendingSignup).where(
        PendingSignup.id == signup.id, PendingSignup.used_at.is_(None)).values(used_at=datetime.now(UTC))))
    db.session().commit()
    if claimed.rowcount != 1:  # a second click raced this one
        return fail("This confirmation link is invalid, expired or already used.", code="invalid_confirmation")
    row = db.session().scalar(select(ProviderConfig).where(ProviderConfig.name == signup.provider,
                                                           ProviderConfig.enabled.is_(True)))
    if row is None:
        return fail("That sign-in method is not available.", code="provider_unavailable", provider=signup.provider)
    profile = Profile(**payload["profile"])
    pending = state.PendingLogin(provider=row.name, saved={}, next_url=payload["next"], binding="",
                                 invite=payload.get("invite"))
    session.pop("pending_signup", None)
    return _provision(row, profile, payload["tokens"], pending, confirmed_email=signup.email)


@bp.get("/brands.css")
def brands_css() -> Any:
    """Provider button colours as a stylesheet, so the CSP needs no inline styles."""
    rules = []
    for kind, brand in {**registry.connect_brands(), **registry.brands()}.items():  # sign-in and connect buttons
        rules.append(f".brand-{kind}{{--bg:{brand.background};--fg:{brand.foreground};"
                     f"--bd:{brand.border or brand.background}}}")
    return current_app.response_class("\n".join(rules), mimetype="text/css",
                                      headers={"Cache-Control": "public, max-age=3600"})


@bp.post("/logout")
def logout() -> Any:
    sign_out()
    return redirect(url_for("auth.login_page"))


@bp.get("/")
def index() -> Any:
    return redirect(url_for("account.overview") if current_user() else url_for("auth.login_page"))


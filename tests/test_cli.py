"""The `hub` admin commands, run as an admin would (CliRunner with HUB_* in the environment)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from hub.cli import main
from hub.models import AuditEvent, Invite, Organisation, OrgDomain, OrgPolicy, ProviderConfig, User
from providers import registry
from tests.auth.helpers import ADA, callback_url, signed_in
from tests.live import Browser, LiveHub
from tests.ports import free_ports


def run(live: LiveHub, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=live.env)


def ok(live: LiveHub, *args: str) -> Result:
    result = run(live, *args)
    assert result.exit_code == 0, result.output
    return result


def table_counts(live: LiveHub) -> tuple[int, ...]:
    with live.context() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (ProviderConfig, Organisation, OrgDomain, Invite, User))


def refused(live: LiveHub, *args: str, message: str) -> None:
    """A clear error, a non-zero exit code, and nothing changed."""
    before = table_counts(live)
    result = run(live, *args)
    assert result.exit_code != 0, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert table_counts(live) == before


# --- providers --------------------------------------------------------------------------------
def test_provider_add_list_and_disable(live: LiveHub) -> None:
    base = f"{live.url}/sandbox/google"
    added = ok(live, "provider", "add", "google", "--kind", "google", "--client-id", "cid-1",
               "--client-secret", "top-secret-value", "--issuer", base,
               "--option", "hd_allow=partner.example,b.example", "--profile-sync", "create")
    assert f"{live.url}/auth/google/callback" in added.output
    ok(live, "provider", "add", "corp", "--kind", "oidc", "--client-id", "cid-2", "--client-secret", "s2",
       "--issuer", f"{live.url}/sandbox/oidc", "--hidden", "--scope", "openid", "--scope", "email")
    listing = ok(live, "provider", "list", "--json")
    assert "top-secret-value" not in listing.output
    rows = {row["name"]: row for row in json.loads(listing.output)}
    assert rows["google"]["kind"] == "google" and rows["google"]["enabled"] is True
    assert rows["google"]["options"] == {"hd_allow": ["partner.example", "b.example"]}
    assert rows["google"]["profile_sync"] == "create"
    assert rows["corp"]["hidden"] is True and rows["corp"]["scopes"] == ["openid", "email"]
    assert "google" in ok(live, "provider", "list").output  # the table form
    ok(live, "provider", "disable", "google")
    rows = {row["name"]: row for row in json.loads(ok(live, "provider", "list", "--json").output)}
    assert rows["google"]["enabled"] is False and rows["corp"]["enabled"] is True
    with live.context() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"provider.add", "provider.disable"} <= actions


def test_a_provider_added_by_the_cli_signs_users_in(live: LiveHub) -> None:
    live.sandboxes["google"].register_client("cid-cli", "cli-secret", [f"{live.url}/auth/google/callback"])
    ok(live, "provider", "add", "google", "--kind", "google", "--client-id", "cid-cli", "--client-secret",
       "cli-secret", "--issuer", f"{live.url}/sandbox/google")
    browser = Browser(live)
    assert browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False).status_code == 302
    assert signed_in(browser)


@pytest.mark.parametrize(("args", "message"), [
    (("--kind", "myspace", "--client-id", "c", "--client-secret", "s"), "'myspace' is not a sign-in provider kind"),
    (("--kind", "oidc", "--client-id", "c", "--client-secret", "s"), "--issuer is required for kind oidc"),
    (("--kind", "google", "--client-id", " ", "--client-secret", "s"), "--client-id must not be empty"),
    (("--kind", "google", "--client-id", "c", "--client-secret", ""), "--client-secret must not be empty"),
    (("--kind", "google", "--client-id", "c", "--client-secret", "s", "--issuer", "http://idp.example.com"),
     "--issuer"),
    (("--kind", "google", "--client-id", "c", "--client-secret", "s", "--auth-base", "ftp://idp.example.com"),
     "--auth-base"),
    (("--kind", "google", "--client-id", "c", "--client-secret", "s", "--option", "hd_allow"),
     "must look like KEY=VALUE"),
    (("--kind", "google", "--client-id", "c"), "Missing option '--client-secret'"),
    # Private addresses, named in no allow-list: refused now, naming the setting that would allow them.
    (("--kind", "google", "--client-id", "c", "--client-secret", "s", "--issuer", "https://10.0.0.5"),
     "--issuer: 10.0.0.5 is a private address (the hub calls only public addresses unless HUB_PROVIDER_ALLOW_HOSTS "
     "names the server, as 10.0.0.5:443)"),
    (("--kind", "google", "--client-id", "c", "--client-secret", "s", "--api-base", "https://169.254.169.254"),
     "--api-base: 169.254.169.254 is a link-local address"),
    (("--kind", "google", "--client-id", "c", "--client-secret", "s", "--auth-base", "https://[::ffff:10.0.0.5]"),
     "--auth-base: ::ffff:a00:5 is an IPv4-mapped address"),
])
def test_provider_add_refuses_bad_input(live: LiveHub, args: tuple[str, ...], message: str) -> None:
    refused(live, "provider", "add", "google", *args, message=message)


def test_provider_add_takes_a_private_host_the_allow_list_names(live: LiveHub) -> None:
    """An on-premises provider: HUB_PROVIDER_ALLOW_HOSTS names its host (a bare host opens the issuer's port)."""
    for allowed in ("10.0.0.5", "10.0.0.5:8443"):
        result = CliRunner().invoke(main, ["provider", "add", "onprem", "--kind", "oidc", "--client-id", "c",
                                           "--client-secret", "s", "--issuer", "https://10.0.0.5:8443/realms/hub"],
                                    env={**live.env, "HUB_PROVIDER_ALLOW_HOSTS": allowed})
        assert result.exit_code == 0, result.output
    refused(live, "provider", "add", "other", "--kind", "oidc", "--client-id", "c", "--client-secret", "s",
            "--issuer", "https://10.0.0.6:8443", message="HUB_PROVIDER_ALLOW_HOSTS names the server, as 10.0.0.6:8443")


def test_provider_add_refuses_a_bad_name_and_disable_an_unknown_provider(live: LiveHub) -> None:
    refused(live, "provider", "add", "Bad Name", "--kind", "google", "--client-id", "c", "--client-secret", "s",
            message="name must be lowercase letters")
    refused(live, "provider", "disable", "nobody", message="no provider called 'nobody'")


def test_kind_choices_are_the_registrys_read_when_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind registered in providers/registry.py is listed and accepted with no edit to the CLI."""
    monkeypatch.setitem(registry.KINDS, "corpsso", "providers.oidc:GenericOIDC")
    monkeypatch.setitem(registry.READERS, "corp:news", "providers.rss.feed:RSSReader")
    provider_help = CliRunner().invoke(main, ["provider", "add", "--help"], terminal_width=400).output
    assert f"--kind [{'|'.join(sorted(registry.KINDS))}]" in provider_help
    tile_help = CliRunner().invoke(main, ["tile", "add", "--help"], terminal_width=400).output
    assert f"--kind [{'|'.join(sorted(registry.READERS))}]" in tile_help
    policy_help = CliRunner().invoke(main, ["org", "policy", "--help"]).output
    assert "{" + "|".join(OrgPolicy) + "}" in policy_help
    refused = CliRunner().invoke(main, ["tile", "add", "--kind", "fax", "--title", "T"])
    assert refused.exit_code == 2 and f"'fax' is not a tile kind; one of: {', '.join(sorted(registry.READERS))}" \
        in refused.output, refused.output


# --- organisations and invitations ---------------------------------------------------------------
def test_org_add_and_list(live: LiveHub) -> None:
    live.add_provider("google")
    ok(live, "org", "add", "Partner", "--domain", "Partner.Example", "--domain", "b.example", "--policy", "invite",
       "--provider", "google")
    ok(live, "org", "add", "Open Co")
    rows = {row["name"]: row for row in json.loads(ok(live, "org", "list", "--json").output)}
    assert rows["Partner"]["policy"] == "invite"
    assert rows["Partner"]["domains"] == [{"domain": "partner.example", "provider": "google"},
                                          {"domain": "b.example", "provider": "google"}]
    assert rows["Open Co"] == {"id": rows["Open Co"]["id"], "name": "Open Co", "policy": "open", "domains": [],
                               "monthly_budgets": {}}
    assert "partner.example" in ok(live, "org", "list").output


def test_org_add_refuses_bad_input(live: LiveHub) -> None:
    live.add_provider("google")
    ok(live, "org", "add", "Partner", "--domain", "partner.example")
    refused(live, "org", "add", "Partner", message="organisation 'Partner' already exists")
    refused(live, "org", "add", "Other", "--domain", "partner.example", message="already belongs to an organisation")
    refused(live, "org", "add", "Other", "--domain", "not a domain", message="is not a domain name")
    refused(live, "org", "add", "Other", "--domain", "good.example", "--domain", "bad_domain",
            message="is not a domain name")
    refused(live, "org", "add", "Other", "--policy", "anyone", message="Invalid value for '--policy'")
    refused(live, "org", "add", "Other", "--domain", "o.example", "--provider", "nosuch",
            message="no provider called 'nosuch'")
    refused(live, "org", "add", " ", message="NAME must be 1 to 200 characters")


def test_invite_create_prints_a_one_time_code(live: LiveHub) -> None:
    ok(live, "org", "add", "Guild", "--policy", "invite")
    result = ok(live, "invite", "create", "--org", "Guild", "--days", "3")
    code = result.stdout.strip()
    assert code.startswith("inv_") and f"/login?invite={code}" in result.stderr
    with live.context() as session:
        invite = session.scalar(select(Invite))
        assert invite.code_hash != code and code not in invite.code_hash  # only the hash is stored
    refused(live, "invite", "create", "--org", "Nobody", message="no organisation called 'Nobody'")
    refused(live, "invite", "create", "--org", "Guild", "--days", "0", message="--days")
    refused(live, "invite", "create", "--org", "Guild", "--days", "-5", message="--days")


# --- users -------------------------------------------------------------------------------------
def test_user_list_and_approve(live: LiveHub) -> None:
    live.add_provider("google")
    ok(live, "org", "add", "Partner", "--domain", "partner.example", "--policy", "approval")
    browser = Browser(live)
    assert browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False).status_code == 202
    rows = json.loads(ok(live, "user", "list", "--json").output)
    assert len(rows) == 1
    ada = rows[0]
    assert {"id", "email", "email_verified", "org", "status", "identities"} <= set(ada)
    assert ada["email"] == "ada@partner.example" and ada["email_verified"] is True
    assert ada["org"] == "Partner" and ada["status"] == "pending"
    assert ada["identities"] == [{"provider": "google", "subject": ADA}]
    assert json.loads(ok(live, "user", "list", "--json", "--status", "active").output) == []
    assert "ada@partner.example" in ok(live, "user", "list").output
    ok(live, "user", "approve", "ADA@partner.example")
    assert json.loads(ok(live, "user", "list", "--json").output)[0]["status"] == "active"
    refused(live, "user", "approve", "ada@partner.example", message="ada@partner.example is active, not pending")
    refused(live, "user", "approve", "nobody@partner.example", message="no user with email nobody@partner.example")


def test_commands_refuse_to_run_on_bad_configuration(live: LiveHub) -> None:
    result = CliRunner().invoke(main, ["user", "list"], env={**live.env, "HUB_ENCRYPTION_KEYS": "nope"})
    assert result.exit_code != 0
    assert "configuration error" in result.output and "HUB_ENCRYPTION_KEYS" in result.output


def test_org_map_adds_a_mapping_once_and_refuses_ones_that_could_never_match(live: LiveHub) -> None:
    live.add_provider("google")
    ok(live, "org", "add", "Partner", "--policy", "open")
    ok(live, "org", "map", "Partner", "--provider", "google", "--claim", "hd", "--value", "partner.example",
       "--group", "partners")
    listed = json.loads(ok(live, "org", "mappings", "--json").output)
    assert listed == [{"provider": "google", "claim": "hd", "value": "partner.example", "org": "Partner",
                       "group": "partners"}]
    for args, message in (
        (("--provider", "google", "--claim", "hd", "--value", "partner.example", "--group", "partners"),
         "already exists"),
        (("--provider", "google", "--claim", "tid", "--value", "x"), "google providers offer hd, not 'tid'"),
        (("--provider", "nope", "--claim", "hd", "--value", "x"), "no provider called 'nope'"),
    ):
        result = run(live, "org", "map", "Partner", *args)
        assert result.exit_code != 0 and message in result.output, result.output
    result = run(live, "org", "map", "--provider", "google", "--claim", "hd", "--value", "x")
    assert result.exit_code != 0 and "needs an organisation or a group" in result.output
    assert len(json.loads(ok(live, "org", "mappings", "--json").output)) == 1
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "org.map")) == 1


# --- serve ------------------------------------------------------------------------------------
def test_serve_never_starts_the_debugger_whatever_flask_debug_says(hub_env: dict[str, str], tmp_path: Path) -> None:
    """`hub serve` with FLASK_DEBUG=1 (and FLASK_ENV, and a .env saying so): no Werkzeug debugger, no reloader."""
    port = free_ports()
    (tmp_path / ".env").write_text("FLASK_DEBUG=1\n")
    env = {**os.environ, **hub_env, "HUB_BASE_URL": f"http://127.0.0.1:{port}", "FLASK_DEBUG": "1",
           "FLASK_ENV": "development"}
    server = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        assert server.stdout is not None
        while not any("Running on" in line for line in output):  # Werkzeug says so once the socket listens
            line = server.stdout.readline()
            assert line, f"hub serve stopped: {''.join(output)}"
            output.append(line)
        # The debugger answers this on any path (its JavaScript); the hub has nothing there.
        answer = requests.get(f"{base}/no-such-page", params={"__debugger__": "yes", "cmd": "resource",
                                                             "f": "debugger.js"}, timeout=5)
        assert answer.status_code == 404
        assert "There is nothing at this address." in answer.text
        assert "Werkzeug" not in answer.text and "console" not in answer.text.lower()
    finally:
        server.terminate()
        output.append(server.communicate(timeout=10)[0])
    printed = "".join(output)
    assert "Debugger is active" not in printed and "Restarting with" not in printed, printed

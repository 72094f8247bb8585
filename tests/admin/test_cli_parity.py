"""The console and the `hub` command manage the same things: what one does, the other sees and can undo."""
from __future__ import annotations

import json

from click.testing import CliRunner

from hub.cli import main
from tests.live import Browser, LiveHub, csrf_token


def hub_cmd(live: LiveHub, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=live.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_console_and_cli_see_each_others_changes(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/providers").text)
    admin.post("/admin/providers/google/disable", data={"csrf_token": token})
    listed = json.loads(hub_cmd(hub, "provider", "list", "--json"))
    assert [(p["name"], p["enabled"]) for p in listed] == [("google", False)]
    hub_cmd(hub, "provider", "enable", "google")
    assert "Disable<span" in admin.get("/admin/providers").text

    hub_cmd(hub, "org", "add", "Partner", "--domain", "partner.example", "--policy", "approval")
    assert "partner.example" in admin.get("/admin/orgs").text
    admin.post("/admin/mappings", data={"csrf_token": token, "provider": "google", "claim": "hd",
                                        "value": "partner.example", "org": "", "group": "partners"})
    mappings = json.loads(hub_cmd(hub, "org", "mappings", "--json"))
    assert mappings == [{"provider": "google", "claim": "hd", "value": "partner.example", "org": None,
                         "group": "partners"}]

    assert Browser(hub).sign_in("google", user="110169484474386276334").status_code == 202  # ada waits
    assert "ada@partner.example" in admin.get("/admin/approvals").text
    hub_cmd(hub, "user", "reject", "ada@partner.example")
    found = json.loads(hub_cmd(hub, "user", "list", "--json", "--search", "ada@"))
    assert [u["status"] for u in found] == ["disabled"]
    hub_cmd(hub, "user", "enable", "ada@partner.example")
    assert "1–1 of 1" in admin.get("/admin/users", params={"status": "active", "q": "ada"}).text

    events = json.loads(hub_cmd(hub, "audit", "list", "--json", "--action", "provider.disable"))
    assert [(e["actor"], e["provider"]) for e in events] == [("admin@hub.example", "google")]
    page = admin.get("/admin/audit", params={"action": "user.reject"}).text
    assert ">cli<" in page or "cli</td>" in page

"""hub.names: names other people see refuse control, format and text-direction characters, through every command
that takes one (the admin forms: tests/admin/test_hidden_characters.py)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from hub import names
from hub.cli import main
from hub.models import ClaimMapping, OAuthClient, Organisation, ProviderConfig, Tile
from tests.live import LiveHub

# One of each kind of character a name must not hold, with what it does.
HIDDEN = [
    ("\u202e", "right-to-left override: 'invoice\u202efdp.exe' reads as 'invoiceexe.pdf'"),
    ("\u2066", "left-to-right isolate"),
    ("\u200f", "right-to-left mark"),
    ("\u061c", "Arabic letter mark"),
    ("\u200b", "zero-width space: two names that look the same"),
    ("\ufeff", "byte order mark"),
    ("\x00", "NUL, which PostgreSQL cannot store"),
    ("\n", "a line break"),
    ("\x1b", "escape, for terminals"),
    ("\u2028", "line separator"),
    ("\U000e0041", "tag character: invisible text"),
]


@pytest.mark.parametrize(("char", "why"), HIDDEN)
def test_hidden_characters_are_refused_by_code_point_and_place(char: str, why: str) -> None:
    assert names.problem(f"Par{char}tner", "NAME") == \
        f"NAME must not contain control or text-direction characters (U+{ord(char):04X} at character 4)", why


@pytest.mark.parametrize("name", ["Partner Inc", "Zoë & Åsa AB", "שותפים", "شركاء", "می\u200cخواهم",
                                  "Team 👩\u200d💻", "東京大学", "Ünïcödé—“quoted”"])
def test_names_in_any_script_with_joiners_are_accepted(name: str) -> None:
    assert names.problem(name, "NAME") is None


def run(live: LiveHub, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=live.env)


def counts(live: LiveHub) -> tuple[int, ...]:
    with live.context() as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) or 0
                     for model in (Organisation, ClaimMapping, OAuthClient, ProviderConfig, Tile))


def refused(live: LiveHub, *args: str, label: str) -> None:
    """Exit 1 with the message naming the flag and the character, and nothing stored."""
    before = counts(live)
    result = run(live, *args)
    assert result.exit_code == 1, result.output
    assert f"{label} must not contain control or text-direction characters (U+202E at character" in result.output, \
        result.output
    assert "Traceback" not in result.output
    assert counts(live) == before


def test_every_command_that_names_something_people_see_refuses_hidden_characters(live: LiveHub) -> None:
    live.add_provider("google")
    assert run(live, "org", "add", "Partner").exit_code == 0
    refused(live, "org", "add", "Evil\u202eCorp", label="NAME")
    refused(live, "org", "map", "Partner", "--provider", "google", "--claim", "hd", "--value", "partner.example",
            "--group", "staff\u202e", label="--group")
    refused(live, "client", "add", "Moodle\u202e", "--redirect-uri", "https://lms.example.edu/cb", label="NAME")
    refused(live, "provider", "add", "corp", "--kind", "oidc", "--client-id", "c", "--client-secret", "s",
            "--issuer", f"{live.url}/sandbox/oidc", "--option", "label=Sign in with Corp\u202e", label="--option label")
    refused(live, "tile", "add", "--kind", "rss", "--url", "https://news.example.org/feed.xml",
            "--title", "News\u202e", label="--title")


def test_the_same_commands_take_names_in_any_script(live: LiveHub) -> None:
    live.add_provider("google")
    for args in (("org", "add", "می\u200cخواهم"),
                 ("org", "map", "--provider", "google", "--claim", "hd", "--value", "a.example",
                  "--group", "Team 👩\u200d💻"),
                 ("client", "add", "Zoë's LMS", "--redirect-uri", "https://lms.example.edu/cb")):
        result = run(live, *args)
        assert result.exit_code == 0, result.output

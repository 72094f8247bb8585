"""Admin searches take % and _ literally: the console's user search and `hub user list --search` alike."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.models import User
from tests.live import Browser, LiveHub

PEOPLE = [("a_b@partner.example", "Ann Bee"), ("axb@partner.example", "Axel Bo"),
          ("carol@partner.example", "Carol 100% Done"), ("dave@partner.example", "Dave")]


@pytest.fixture
def people(hub: LiveHub) -> None:
    with hub.context() as session:
        session.add_all(User(email=email, name=name) for email, name in PEOPLE)
        session.commit()


def found_in_console(admin: Browser, q: str) -> set[str]:
    page = admin.get("/admin/users", params={"q": q})
    assert page.status_code == 200
    return {email for email, _ in PEOPLE if email in page.text}


def found_by_cli(hub: LiveHub, search: str) -> set[str]:
    result = CliRunner().invoke(main, ["user", "list", "--json", "--search", search], env=hub.env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {row["email"] for row in json.loads(result.output)}


@pytest.mark.parametrize(("typed", "expected"), [
    ("a_b", {"a_b@partner.example"}),  # not axb: _ is not "any one character"
    ("%", {"carol@partner.example"}),  # not everyone: % is not "anything"
    ("100%", {"carol@partner.example"}),
    ("_", {"a_b@partner.example"}),
    ("A_B@", {"a_b@partner.example"}),  # still case-insensitive
    ("\\", set()),  # the escape character itself is literal too
    ("partner", {email for email, _ in PEOPLE}),
])
def test_percent_and_underscore_match_only_themselves(hub: LiveHub, admin: Browser, people: None, typed: str,
                                                      expected: set[str]) -> None:
    assert found_in_console(admin, typed) == expected
    assert found_by_cli(hub, typed) == expected

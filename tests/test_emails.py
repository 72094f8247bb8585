"""hub/emails.py, the one address policy: directory addresses on reserved names are addresses; non-addresses are not."""
from __future__ import annotations

import pytest

from hub import emails


@pytest.mark.parametrize(("given", "normal"), [
    ("test.user@okta.local", "test.user@okta.local"),  # Okta's own sample user
    ("User@Corp.LOCAL", "User@corp.local"),  # the domain lower-cased, the local part as written
    ("admin@intranet", "admin@intranet"),  # a dotless directory domain
    ("a@localhost", "a@localhost"),
    ("svc@build.test", "svc@build.test"),
    ("ada@partner.example", "ada@partner.example"),
    ("  ada@partner.example ", "ada@partner.example"),
    ("élodie@bücher.de", "élodie@bücher.de"),
])
def test_syntactically_valid_addresses_are_taken(given: str, normal: str) -> None:
    assert emails.normalise(given) == normal and emails.is_valid(given)


@pytest.mark.parametrize(("given", "why"), [
    ("not-an-email", "it has no @"), ("", "required"), ("ada@", "after the @-sign"), ("@partner.example", "before"),
    ("a b@partner.example", "SPACE"), ("a@b@partner.example", "invalid characters"), ("a@-bad-.local", "hyphen"),
    ("a@b..local", "two periods"), ("ada@partner.example\nBcc: x@y.z", "not an email address"),
    ("a" * 320 + "@x.local", "at most 320"),
])
def test_what_is_not_an_address_is_refused_saying_why(given: str, why: str) -> None:
    with pytest.raises(emails.InvalidEmail, match=why):
        emails.normalise(given)
    assert not emails.is_valid(given)


def test_a_reserved_name_is_held_to_the_same_length_limits_as_any_other() -> None:
    """The stand-in label the check uses has the reserved name's length, so no limit moves by a character."""
    label = "a" * 63
    assert emails.is_valid(f"x@{label}.local") and not emails.is_valid(f"x@{label}a.local")
    long_domain = ".".join(["a" * 60] * 4)  # 243 characters
    assert emails.is_valid(f"x@{long_domain}.local") == emails.is_valid(f"x@{long_domain}.zzzzz")


@pytest.mark.parametrize(("given", "mailable"), [
    ("test.user@okta.local", True), ("ada@partner.example", True), ("a@localhost", False),
    ("a@mail.localhost", False), ("admin@intranet", False), ("not-an-email", False),
])
def test_only_the_confirmation_form_also_asks_whether_the_hub_may_mail_it(given: str, mailable: bool) -> None:
    assert emails.mailable(given) is mailable

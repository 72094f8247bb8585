"""The one email-address policy: what sign-in, SCIM, LMS webhooks and xAPI statements take as an address.

The hub matches people by address; it does not decide whether mail to them can be delivered. Directory addresses on
reserved names (`user@corp.local`, Okta's sample `test.user@okta.local`, `admin@intranet`) are common inside
companies, so any syntactically valid address is taken, while input that is not an address (`not-an-email`, `a@`,
`a b@c.com`) is refused with email-validator's own explanation.

email-validator refuses RFC 6761 special-use domains even with deliverability checks off. Its README offers removing
them from its module-level list, which would change the rule for every other user of the library in the process
(pydantic's EmailStr included); instead the reserved last label is swapped for a stand-in of the same length while the
library checks the address, and put back afterwards, so every other syntax rule is still the library's.
"""
from __future__ import annotations

import functools

import email_validator

from hub.errors import HubError

MAX_LENGTH = 320  # users.email and every other address column


class InvalidEmail(HubError, ValueError):
    """Input that is not an email address; the message says why, in words a sender can act on.

    A ValueError too, so a pydantic AfterValidator turns it into an ordinary validation error."""


@functools.lru_cache(maxsize=4096)
def normalise(address: str) -> str:
    """The address in email-validator's normal form (domain lower-cased, IDNA normalised), or InvalidEmail.

    Kept per address: an LMS sends the same learners again and again, and the check is a visible part of a webhook's
    work. Callers still compare addresses case-insensitively (the local part's case is kept, as the sender wrote it).
    """
    text = address.strip()
    if not text:
        raise InvalidEmail("an email address is required")
    if len(text) > MAX_LENGTH:
        raise InvalidEmail(f"an email address is at most {MAX_LENGTH} characters")
    local, at, domain = text.rpartition("@")
    if not at:
        raise InvalidEmail(f"{text!r} is not an email address: it has no @")
    reserved = _reserved_suffix(domain)
    checked = f"{local}@{domain[: len(domain) - len(reserved)]}{'x' * len(reserved)}" if reserved else text
    try:
        found = email_validator.validate_email(checked, check_deliverability=False, globally_deliverable=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidEmail(f"{text!r} is not an email address: {exc}") from None
    normal = found.normalized
    return f"{normal[: len(normal) - len(reserved)]}{reserved}" if reserved else normal


def is_valid(address: str) -> bool:
    """Does `normalise` take it? For callers that treat a bad address as no address (sign-in's provider claim)."""
    try:
        normalise(address)
    except InvalidEmail:
        return False
    return True


def mailable(address: str) -> bool:
    """May the hub send mail to this address an anonymous visitor typed (the sign-in confirmation form)?

    The one place the hub mails an address nobody vouched for, so on top of `normalise` it refuses what would stay
    on the hub's own machine or relay by name alone: loopback names (RFC 6761 §6.3: `localhost` and below it) and
    dotless domains (`admin@intranet`). A directory domain such as corp.local is still taken: an internal relay may
    deliver it, and it is what the user's SCIM record and LMS events will carry.
    """
    if not is_valid(address):
        return False
    domain = normalise(address).rpartition("@")[2]
    return "." in domain and not (domain == "localhost" or domain.endswith(".localhost"))


def _reserved_suffix(domain: str) -> str:
    """The special-use name the domain ends in (`local` for `corp.local`), lower case, or "" for any other domain."""
    lowered = domain.lower()
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        if lowered == name or lowered.endswith("." + name):
            return name
    return ""

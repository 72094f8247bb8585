"""Standard Webhooks signatures (https://www.standardwebhooks.com/): verify an LMS's HMAC-SHA256 `v1` signatures.

Modelled on slack_sdk.signature.SignatureVerifier: the clock is injectable, the replay window is checked before the
signature, every comparison is constant-time. Framework-free: it sees bytes and a header mapping, never a request.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300  # the spec's recommended 5 minutes, both ways
MAX_ID_LENGTH = 255  # events.external_id

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNED_HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)


class WebhookVerificationError(Exception):
    """A request that is not provably from the source; `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SignedMessage:
    """What a verified request vouches for: its id (the idempotency key) and its timestamp."""

    id: str
    timestamp: int


def new_secret() -> str:
    """A fresh `whsec_` secret: 32 random bytes, base64 (the spec allows 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of `{id}.{timestamp}.{body}` (what a sender puts in webhook-signature)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class SignatureVerifier:
    """Checks the three Standard Webhooks headers against one or more secrets (several during rotation)."""

    def __init__(self, secrets: Sequence[str], tolerance: int = TOLERANCE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = [secret_key(s) for s in secrets]
        self.tolerance = tolerance
        self.clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> SignedMessage:
        """Return the message id and timestamp, or raise WebhookVerificationError saying what is wrong."""
        message = check_headers(headers, self.tolerance, self.clock)
        if not self._keys:
            raise WebhookVerificationError("invalid_signature", "no signature matches this source's secrets")
        content = f"{message.id}.{message.timestamp}.".encode() + body
        expected = [hmac.new(key, content, hashlib.sha256).digest() for key in self._keys]
        for candidate in _v1_signatures(headers[SIGNATURE_HEADER]):
            # compare_digest against every secret: the time taken does not say which secret (if any) matched.
            matches = [hmac.compare_digest(candidate, want) for want in expected]
            if any(matches):
                return message
        raise WebhookVerificationError("invalid_signature", "no signature matches this source's secrets")

    def is_valid(self, headers: Mapping[str, str], body: bytes) -> bool:
        """True when verify() would pass."""
        try:
            self.verify(headers, body)
        except WebhookVerificationError:
            return False
        return True


def check_headers(headers: Mapping[str, str], tolerance: int = TOLERANCE_SECONDS,
                  clock: Callable[[], float] = time.time) -> SignedMessage:
    """The header checks that need no secret: all three present, a sane id, a timestamp inside the window."""
    for name in SIGNED_HEADERS:
        if not headers.get(name):
            raise WebhookVerificationError("missing_header", f"the {name} header is required")
    msg_id = headers[ID_HEADER]
    if len(msg_id) > MAX_ID_LENGTH or not msg_id.isascii() or not msg_id.isprintable():
        raise WebhookVerificationError("invalid_header",
                                       f"{ID_HEADER} must be printable ASCII of at most {MAX_ID_LENGTH} characters")
    raw = headers[TIMESTAMP_HEADER]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise WebhookVerificationError("invalid_header", f"{TIMESTAMP_HEADER} must be integer seconds since the epoch")
    timestamp = int(raw)
    if abs(clock() - timestamp) > tolerance:
        raise WebhookVerificationError(
            "stale_timestamp", f"{TIMESTAMP_HEADER} is more than {tolerance} seconds ({tolerance // 60} minutes) "
                               "from the hub's clock: sign each attempt with the current time")
    return SignedMessage(id=msg_id, timestamp=timestamp)


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded `v1` entries of a space-separated signature list (other versions are skipped, as the spec says)."""
    found = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    return found

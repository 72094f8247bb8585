"""Encryption at rest: MultiFernet over HUB_ENCRYPTION_KEYS, each ciphertext bound to its row."""
from __future__ import annotations

import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hub.errors import HubError


class DecryptionFailed(HubError):
    """A ciphertext did not open: wrong keys, tampering, or moved to another row."""


class Vault:
    """Seals secrets so that a stolen database, or a ciphertext copied elsewhere, reveals nothing."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        # The first key encrypts; every key decrypts, so keys can rotate.
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt plaintext for the row named by context (e.g. 'identity:google:123:tokens')."""
        return self._fernet.encrypt(f"{context}\x00{plaintext}".encode()).decode()

    def open(self, ciphertext: str, context: str) -> str:
        """Decrypt, refusing a ciphertext sealed for another row."""
        try:
            data = self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise DecryptionFailed("ciphertext does not open with the configured keys") from exc
        bound, sep, plaintext = data.partition("\x00")
        if not sep or not secrets.compare_digest(bound, context):
            raise DecryptionFailed("ciphertext belongs to another row")
        return plaintext

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (after a key is added in front)."""
        return self._fernet.rotate(ciphertext.encode()).decode()


def new_token(prefix: str = "") -> str:
    """A random, URL-safe one-time token."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """One-time codes are stored only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()

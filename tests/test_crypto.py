"""Secrets at rest: tokens and client secrets only as ciphertext bound to their row."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from hub.crypto import DecryptionFailed, Vault, new_token, token_hash
from tests.auth.helpers import ADA, GRACE, callback_url
from tests.live import Browser, LiveHub

CLIENT_SECRET = "s3cret-client-secret-that-must-never-be-stored-in-clear"


def test_seal_opens_only_for_its_own_row() -> None:
    vault = Vault((Fernet.generate_key().decode(),))
    sealed = vault.seal("access-token-123", "identity:google:1:tokens")
    assert "access-token-123" not in sealed
    assert vault.open(sealed, "identity:google:1:tokens") == "access-token-123"
    with pytest.raises(DecryptionFailed):
        vault.open(sealed, "identity:google:2:tokens")


def test_keys_rotate_first_encrypts_all_decrypt() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_old = Vault((old,)).seal("secret", "ctx")
    both = Vault((new, old))
    assert both.open(sealed_old, "ctx") == "secret"
    rotated = both.rotate(sealed_old)
    assert Vault((new,)).open(rotated, "ctx") == "secret"
    with pytest.raises(DecryptionFailed):
        Vault((Fernet.generate_key().decode(),)).open(sealed_old, "ctx")
    with pytest.raises(DecryptionFailed):
        both.open(sealed_old[:-4] + "AAAA", "ctx")  # tampered


def test_one_time_tokens_are_random_and_stored_as_hashes() -> None:
    first, second = new_token("inv_"), new_token("inv_")
    assert first != second and first.startswith("inv_") and len(first) > 40
    assert token_hash(first) != first and len(token_hash(first)) == 64


def _raw_row(live: LiveHub, table: str, row_id: int) -> dict:
    with live.context() as session:
        return dict(session.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id}).mappings().one())


def test_tokens_and_client_secrets_are_not_stored_in_plaintext(live: LiveHub) -> None:
    live.add_provider("google", secret=CLIENT_SECRET)
    for user in (ADA, GRACE):
        browser = Browser(live)
        assert browser.http.get(callback_url(browser, "google", user), allow_redirects=False).status_code == 302
    issued = list(live.sandboxes["google"].tokens)
    assert len(issued) == 2
    with live.context() as session:
        identity_ids = session.execute(text("SELECT id FROM identities ORDER BY id")).scalars().all()
        provider_id = session.execute(text("SELECT id FROM providers")).scalar_one()
    dumped = " ".join(" ".join(str(v) for v in _raw_row(live, "identities", i).values()) for i in identity_ids)
    for access_token in issued:
        assert access_token not in dumped
    assert "eyJ" not in dumped  # no JWT (the raw ID token) either
    provider_row = _raw_row(live, "providers", provider_id)
    assert CLIENT_SECRET not in " ".join(str(v) for v in provider_row.values())
    assert provider_row["client_secret_sealed"]
    # The sealed values do open, for their own rows, with the hub's keys.
    vault: Vault = live.app.extensions["vault"]
    assert vault.open(provider_row["client_secret_sealed"], "provider:google:client_secret") == CLIENT_SECRET
    first = _raw_row(live, "identities", identity_ids[0])
    assert any(t in vault.open(first["tokens_sealed"], f"identity:google:{first['subject']}:tokens") for t in issued)


def test_a_ciphertext_copied_to_another_row_does_not_open(live: LiveHub) -> None:
    live.add_provider("google")
    for user in (ADA, GRACE):
        browser = Browser(live)
        assert browser.http.get(callback_url(browser, "google", user), allow_redirects=False).status_code == 302
    with live.context() as session:
        rows = session.execute(text("SELECT id, subject, tokens_sealed FROM identities ORDER BY id")).all()
        # An attacker with write access to the database moves Ada's tokens onto Grace's identity.
        session.execute(text("UPDATE identities SET tokens_sealed = :t WHERE id = :id"),
                        {"t": rows[0].tokens_sealed, "id": rows[1].id})
        session.commit()
    moved = _raw_row(live, "identities", rows[1].id)
    vault: Vault = live.app.extensions["vault"]
    with pytest.raises(DecryptionFailed):
        vault.open(moved["tokens_sealed"], f"identity:google:{moved['subject']}:tokens")
    assert vault.open(rows[0].tokens_sealed, f"identity:google:{rows[0].subject}:tokens")

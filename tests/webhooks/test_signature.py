"""The Standard Webhooks verifier on its own: the spec's published test vector, the window, rotation."""
from __future__ import annotations

import pytest

from webhooks.signature import SignatureVerifier, WebhookVerificationError, new_secret, secret_key, sign

# From the Standard Webhooks reference libraries' tests (standard-webhooks/standard-webhooks, python/tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(msg_id: str = SPEC_ID, timestamp: int = SPEC_TIMESTAMP, signature: str = SPEC_SIGNATURE) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_the_spec_vector_signs_and_verifies() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    verified = SignatureVerifier([SPEC_SECRET], clock=lambda: SPEC_TIMESTAMP).verify(headers(), SPEC_BODY)
    assert (verified.id, verified.timestamp) == (SPEC_ID, SPEC_TIMESTAMP)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_the_window_is_five_minutes_inclusive(offset: int) -> None:
    verifier = SignatureVerifier([SPEC_SECRET], clock=lambda: SPEC_TIMESTAMP + offset)
    assert verifier.is_valid(headers(), SPEC_BODY)


@pytest.mark.parametrize("offset", [-301, 301, 86400])
def test_outside_the_window_is_stale(offset: int) -> None:
    verifier = SignatureVerifier([SPEC_SECRET], clock=lambda: SPEC_TIMESTAMP + offset)
    with pytest.raises(WebhookVerificationError) as caught:
        verifier.verify(headers(), SPEC_BODY)
    assert caught.value.code == "stale_timestamp"


def test_any_of_several_secrets_verifies_and_none_fails() -> None:
    older, newer = new_secret(), new_secret()
    signature = sign(older, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)

    def clock() -> float:
        return SPEC_TIMESTAMP

    assert SignatureVerifier([newer, older], clock=clock).is_valid(headers(signature=signature), SPEC_BODY)
    assert not SignatureVerifier([newer], clock=clock).is_valid(headers(signature=signature), SPEC_BODY)
    assert not SignatureVerifier([], clock=clock).is_valid(headers(signature=signature), SPEC_BODY)


def test_new_secrets_are_random_whsec_with_32_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(secret_key(first)) == 32


@pytest.mark.parametrize("bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"])
def test_a_malformed_secret_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        secret_key(bad)

"""How long the IdP's artefacts live; key retirement follows from the longest of them."""
from __future__ import annotations

CODE_SECONDS = 60  # RFC 6749 4.1.2 recommends at most 10 minutes; an LMS redeems within a second
ACCESS_TOKEN_SECONDS = 3600
ID_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 30 * 24 * 3600
PENDING_REQUEST_SECONDS = 900  # an authorization request waiting for the social sign-in
# A retired signing key stays in JWKS this long after it stopped signing: every ID token it
# signed has expired by then (RPs also re-verify an id_token_hint at logout).
KEY_RETIREMENT_SECONDS = ID_TOKEN_SECONDS + 300

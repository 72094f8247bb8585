"""Log hygiene: authorization codes, state, tokens and one-time links never reach a log line."""
from __future__ import annotations

import logging
import re

_SECRET_PARAM = re.compile(
    r"((?:^|[?&\s])(?:code|state|token|access_token|id_token|refresh_token|code_verifier|invite|client_secret)=)"
    r"[^&\s\"']+")
_SECRET_PATH = re.compile(r"(/auth/confirm/)[^/?\s\"']+")


def redact(text: str) -> str:
    """Replace secret query values and one-time path tokens with [redacted]."""
    return _SECRET_PATH.sub(r"\1[redacted]", _SECRET_PARAM.sub(r"\1[redacted]", text))


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with secrets removed (the access log prints whole callback URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Attach the filter once to the loggers that print URLs (idempotent: apps are built many times in tests)."""
    for name in ("werkzeug", "hub", "rq.worker"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())

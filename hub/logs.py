"""Log hygiene: authorization codes, state, tokens, secrets and one-time links never reach a log line.

Redaction happens where every record passes, whichever logger makes it: the log record factory (install()), so a
record from any module's child logger, a library's, or the server's access log is clean before any handler or
formatter sees it, its traceback included. gunicorn's own access log goes through hub/gunicorn_conf.py too.
"""
from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
# Parameter names whose values are secrets wherever they appear: a query string, a form body, "name=value" text.
_SECRET_NAMES = (r"code|state|token|access_token|id_token|refresh_token|code_verifier|invite|client_secret|"
                 r"session_state|client_info|password|assertion")
_SECRET_PARAM = re.compile(rf"((?<![\w.-])(?:{_SECRET_NAMES})=)[^&\s\"'<>),;\]}}]+", re.IGNORECASE)
# The same names as quoted keys: a dict's repr or a JSON body ('access_token': 'x', "code":"x").
_SECRET_KEY = re.compile(rf"""((["'])(?:{_SECRET_NAMES})\2\s*:\s*(["']))[^"']*""", re.IGNORECASE)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
# Prefixed secrets the hub and its providers hand out: API tokens, webhook secrets, Slack tokens.
_PREFIXED = re.compile(r"\b(hubt_|whsec_|xox[abprs]-)[A-Za-z0-9+/=_\-.]+")
_SECRET_PATH = re.compile(r"(/auth/confirm/)[^/?\s\"']+")
# A password inside a URL (redis://:pw@host, postgresql://user:pw@host).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#\s@]*:)[^@/?#\s]+@", re.IGNORECASE)
# Any callback's query (/auth/<p>/callback, /connect/<p>/callback): every value but these is a provider's secret.
_CALLBACK_QUERY = re.compile(r"(/callback\?)([^\s\"'<>#]*)")
_CALLBACK_KEEP = frozenset({"iss", "error"})


def _callback_query(match: re.Match[str]) -> str:
    kept = []
    for pair in match.group(2).split("&"):
        name, equals, _value = pair.partition("=")
        kept.append(pair if not equals or name.lower() in _CALLBACK_KEEP else f"{name}={REDACTED}")
    return match.group(1) + "&".join(kept)


def redact(text: str) -> str:
    """Replace secret values (parameters, keys, bearer tokens, callback queries, one-time paths) with [redacted]."""
    text = _CALLBACK_QUERY.sub(_callback_query, text)
    text = _SECRET_PARAM.sub(rf"\1{REDACTED}", text)
    text = _SECRET_KEY.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _PREFIXED.sub(rf"\1{REDACTED}", text)
    text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    return _SECRET_PATH.sub(rf"\1{REDACTED}", text)


def clean(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite a record's message, traceback and stack with secrets removed (in place; returns it)."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):
        return record  # arguments that do not fit the format: logging reports that when it formats the record
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if redact(text) != text:
            record.exc_text = redact(text)  # formatters print exc_text when it is set
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactSecrets(logging.Filter):
    """The same redaction as a filter, for handlers fed records made elsewhere (logging.makeLogRecord)."""

    def filter(self, record: logging.LogRecord) -> bool:
        clean(record)
        return True


def install() -> None:
    """Make every log record of this process redacted as it is made (idempotent: apps are built many times)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return clean(current(*args, **kwargs))

    # Marks the factory installed (a function attribute): a second install() must not wrap it again.
    factory.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)

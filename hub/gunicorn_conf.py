"""gunicorn's settings for the hub: `gunicorn -c python:hub.gunicorn_conf 'hub.wsgi:app'`.

Where and how wide it serves come from HUB_BIND, HUB_WEB_WORKERS and HUB_WEB_THREADS (docs/configuration.md); a flag
on gunicorn's command line still wins over this module. The app itself reads its HUB_* settings in each worker.
"""
from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from hub import logs
from hub.config import load_server_settings

_server = load_server_settings()

bind = list(_server.bind)
workers = _server.workers
# Threads share their worker's database and Redis pools; a slow provider or feed call holds one thread, not a worker.
worker_class = "gthread"
threads = _server.threads
# No preload: each worker builds its own app after the fork, so no pooled connection is shared between processes.
preload_app = False


def kernel_spreads_connections(binds: list[str]) -> bool:
    """Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections over them.

    With one shared socket, whichever worker wakes first accepts: a burst of keep-alive connections (an LMS page
    full of tiles, a load balancer's pool) often lands all on one worker while the others idle, and that process's
    GIL caps the whole server (bench/tiles.py measured 2,300 against 5,900 req/s between such rounds). Not for
    unix sockets: a second worker binding the same path unlinks the first one's.
    """
    return not any(address.startswith("unix:") for address in binds)


reuse_port = kernel_spreads_connections(bind)


def when_ready(server: Any) -> None:
    """Say where the hub listens: with reuse_port gunicorn's own "Listening at:" line is empty (the workers bind)."""
    if reuse_port:
        server.log.info("Workers listen at: %s (a socket each, SO_REUSEPORT)", ", ".join(bind))
# No control socket (gunicorn >= 25.1): it sits at one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl),
# shared by every gunicorn that user starts, and resizes or reloads whichever bound it last.
control_socket_disable = True

# Access log on stdout, one line per request. The path is logged without its query string, and the Referer not at
# all: sign-in codes, states and invitation codes travel in query strings (docs/sign-in.md).
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"
# Other handlers or filters go here (logging.config.dictConfig's schema, access and error logs alike: loggers
# "gunicorn.access" and "gunicorn.error"); empty keeps gunicorn's own set-up. Redaction is below, in every set-up.
logconfig_dict: dict[str, Any] = {}

# Secrets never reach either log, whatever the format prints (hub/logs.py): the access log's atoms (the request
# line, the query, the Referer, any header) are redacted by RedactingLogger, and every other record of the master
# and its workers as it is made (on_starting installs the redacting record factory before the workers fork).
logger_class = "hub.gunicorn_conf.RedactingLogger"


class RedactingLogger(Logger):
    """gunicorn's logger, with every text atom of an access log line redacted before the line is formatted."""

    # The same atoms, redacted, as a plain dict: the stub's TypedDict names the fixed atoms but not the per-header
    # and per-variable ones ("{user-agent}i") gunicorn adds, which are redacted too.
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:  # type: ignore[override]
        return {name: logs.redact(value) if isinstance(value, str) else value
                for name, value in super().atoms(resp, req, environ, request_time).items()}


def on_starting(server: Any) -> None:
    """Redact every log record of the master, and so of the workers it forks (gunicorn calls this hook)."""
    logs.install()

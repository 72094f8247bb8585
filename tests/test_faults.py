"""Storage failures mid-service: a clear 503 page, nothing half-done, and the hub recovers when storage returns."""
from __future__ import annotations

import socket

import redis
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from hub.models import User
from tests.live import Browser, LiveHub

ADA = "110169484474386276334"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_redis_down_gives_a_clear_503_and_the_hub_recovers(live: LiveHub) -> None:
    live.add_provider("google")
    working = live.app.extensions["redis"]
    live.app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    try:
        answer = Browser(live).get("/login/google")
        assert answer.status_code == 503
        assert "Temporarily unavailable" in answer.text and "Nothing was changed" in answer.text
        assert answer.headers["Retry-After"] == "30"
        assert "Traceback" not in answer.text
    finally:
        live.app.extensions["redis"] = working
    assert Browser(live).sign_in("google", user=ADA).status_code == 302


def test_database_down_gives_a_clear_503_and_creates_nothing(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    start = browser.start_login("google")
    callback = browser.pick_user(start.headers["Location"], ADA)
    working = live.app.extensions["db_sessionmaker"]
    unreachable = create_engine(f"postgresql+psycopg://hub@127.0.0.1:{_closed_port()}/hub",
                                connect_args={"connect_timeout": 1})
    live.app.extensions["db_sessionmaker"] = sessionmaker(unreachable)
    try:
        answer = browser.http.get(callback, allow_redirects=False)
        assert answer.status_code == 503 and "Temporarily unavailable" in answer.text
        assert Browser(live).get("/login").status_code == 503
    finally:
        live.app.extensions["db_sessionmaker"] = working
        unreachable.dispose()
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
    assert browser.get("/account").status_code == 302  # not signed in
    assert Browser(live).sign_in("google", user=ADA).status_code == 302

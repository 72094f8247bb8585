"""Two first sign-ins of the same person at once: one user, one identity, and both browsers signed in."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from hub.models import Identity, User
from tests.auth.helpers import ADA, callback_url, signed_in
from tests.live import Browser, LiveHub


def test_racing_first_sign_ins_of_one_identity_make_one_user(live: LiveHub) -> None:
    live.add_provider("google")
    browsers = [Browser(live) for _ in range(4)]
    callbacks = [callback_url(browser, "google", ADA) for browser in browsers]
    with ThreadPoolExecutor(len(browsers)) as pool:
        answers = list(pool.map(lambda pair: pair[0].http.get(pair[1], allow_redirects=False),
                                zip(browsers, callbacks, strict=True)))
    assert [answer.status_code for answer in answers] == [302] * len(browsers), [a.text[:200] for a in answers]
    assert all(signed_in(browser) for browser in browsers)
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(Identity)) == 1

"""Real-browser fixtures: Debian's chromium driven by Playwright, and axe-core from npm.

Nothing is downloaded at test time except axe-core by `npm ci` from the committed lock
file (only when node_modules is missing). A missing chromium fails the tests: it never
skips them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveHub

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE_DIR = Path(__file__).parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# The pictures docs/ shows are refreshed on purpose (`make screenshots`); an ordinary run keeps its own copies outside
# the clone, so `make test` leaves the working tree as it found it (audit times and codes differ on every run).
DOCS_SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
SCREENSHOTS = DOCS_SCREENSHOTS if os.environ.get("HUB_TEST_SCREENSHOTS") == "docs" else \
    Path(tempfile.gettempdir()) / "hub-test-screenshots"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 740}
# The sandbox user the test environment makes admin (HUB_ADMIN_EMAILS=admin@hub.example).
ADMIN_SUB = "110169484474386276337"
ADA_SUB = "110169484474386276334"
GRACE_SUB = "110169484474386276335"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless chromium for the session (Debian's package, never a Playwright download)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests drive Debian's chromium. "
                    "Install it with `apt-get install -y chromium` (never `playwright install`).", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's browser build, installed from the committed lock file when missing."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("`npm` is not on PATH: the accessibility checks install axe-core with `npm ci`. "
                        "Install Node.js and npm (e.g. `apt-get install nodejs npm`).", pytrace=False)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0 or not AXE_JS.exists():
            pytest.fail(f"`npm ci` in {AXE_DIR} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
                        pytrace=False)
    return AXE_JS


class Pages:
    """Opens pages in fresh browser contexts and records what the hub's CSP refused in them."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.csp_errors: list[str] = []

    def new(self, viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        """A page in its own context (own cookies): one per person in a test."""
        context = self.browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._console)
        return page

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_errors.append(message.text)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(chromium: Any) -> Iterator[Pages]:
    """Pages for one test; the test fails if the hub's own pages broke its CSP (inline styles or scripts)."""
    opened = Pages(chromium)
    yield opened
    opened.close()
    assert not opened.csp_errors, "the page broke the Content-Security-Policy:\n" + "\n".join(opened.csp_errors)


@pytest.fixture
def axe(pages: Pages, axe_script: Path) -> Callable[..., list[dict[str, Any]]]:
    """Run axe-core on a page and fail on serious or critical violations.

    The hub's CSP (script-src 'self') refuses injected scripts, so axe runs in a twin
    context with bypass_csp=True that shares the page's cookies and loads the same URL;
    `prepare(twin)` can bring the twin to a state a GET cannot (a form with errors).
    """

    def run(page: Any, name: str, prepare: Callable[[Any], None] | None = None) -> list[dict[str, Any]]:
        twin_context = pages.browser.new_context(viewport=page.viewport_size, bypass_csp=True,
                                                 storage_state=page.context.storage_state())
        try:
            twin = twin_context.new_page()
            twin.goto(page.url)
            if prepare:
                prepare(twin)
            twin.add_script_tag(path=str(axe_script))
            result = twin.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        finally:
            twin_context.close()
        violations = result["violations"]
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not serious, f"axe found serious violations on {name}:\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']}\n  " + "\n  ".join(n["html"][:160] for n in v["nodes"][:5])
            for v in serious)
        return violations

    return run


def screenshot(page: Any, name: str, full_page: bool = True) -> None:
    """Save docs/screenshots/<name>.png, the pictures docs/admin.md shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page, animations="disabled")


def sign_in(page: Any, live: LiveHub, sub: str, *, next_path: str | None = None) -> None:
    """Sign in the way a person does: the provider button, the sandbox's picker, its Sign in button."""
    page.goto(live.url + "/login" + (f"?next={next_path}" if next_path else ""))
    page.click('a.provider-button[data-provider="google"]')
    page.wait_for_url("**/sandbox/google/**")
    page.check(f'input[type=radio][value="{sub}"]')
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def no_horizontal_overflow(page: Any) -> tuple[int, int]:
    """(document scroll width, viewport width): equal when nothing spills sideways."""
    return page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")

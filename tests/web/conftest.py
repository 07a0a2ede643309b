"""Fixtures for the admin pages: signed-in test clients, a real server on loopback, headless Chromium.

The browser tests drive the system Chromium (`/usr/bin/chromium`, Debian's package) through
Playwright; Playwright never downloads a browser. Without Chromium they skip, saying why, unless
``ROUTER_REQUIRE_BROWSER=1`` (set by `.ci/run`), which makes them fail instead. When a browser
test fails, every page it had open is saved as a PNG under ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from router.app import create_app
from router.auth import create_token
from router.config import REPO_ROOT
from tests.conftest import prepare_home

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@pytest.fixture
def signed_in(client, ctx) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """``signed_in(role, name)`` signs the test client in through the form; returns the CSRF token."""

    def sign_in(role: str = "admin", name: str | None = None) -> str:
        token = create_token(ctx.db, role, name or role)
        page = client.get("/admin/sign-in")
        resp = client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_of(page.text), "next": "/admin/"})
        assert resp.status_code == 302, resp.text
        return csrf_of(client.get("/admin/tickets").text)

    return sign_in


# --- a real server and a real browser ------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped"
        if os.environ.get("ROUTER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ROUTER_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


class LiveServer:
    """The app served by werkzeug on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ctx = app.extensions["router"]
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def token(self, role: str, name: str | None = None) -> str:
        return create_token(self.ctx.db, role, name or role)


@pytest.fixture
def live(tmp_path: Path, trained) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    ctx = prepare_home(tmp_path / "home", trained)
    ctx.db.dispose()
    app = create_app({"TESTING": True}, settings=ctx.settings)
    server = LiveServer(app)
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=10)
        app.extensions["router"].db.dispose()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            for i, open_page in enumerate(context.pages):
                open_page.screenshot(path=str(ARTIFACTS / f"{stem}-{i}.png"), full_page=True)
        context.close()


def sign_in_browser(page: Any, live: LiveServer, role: str, name: str | None = None, path: str = "/admin/") -> None:
    page.goto(live.url + path)
    page.fill("#token", live.token(role, name))
    page.click("button[type=submit]")
    page.wait_for_selector("#who")

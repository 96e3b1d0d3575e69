"""Fixtures of the browser tests: Debian's Chromium through Playwright, a fresh page per test
that fails the test on any script error or dialog, and the folder screenshots are kept in.

Without Chromium or Playwright these tests skip and say which is missing; with
SPIKENAS_REQUIRE_BROWSER=1 (set by .ci/run) they fail instead, so CI always runs them.
Playwright's own browser downloads (`playwright install`) are never used: the executable is
the system's `chromium`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import find_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"


def _unavailable(reason: str) -> None:
    if os.environ.get("SPIKENAS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (SPIKENAS_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[dev]'")
    path = find_chromium()
    if path is None:
        _unavailable("Chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh context (no cache, no storage). A script error, a console error or a
    dialog (what an injected `alert` would open) fails the test."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console error: {message.text}")
            if message.type == "error" and "status of 4" not in message.text
            else None
        ),
    )

    def dialog(d: Any) -> None:
        problems.append(f"a dialog opened: {d.message!r}")
        d.dismiss()

    page.on("dialog", dialog)
    page.set_default_timeout(20_000)
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

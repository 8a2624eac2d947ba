"""Headless Chromium against a whole portal started for the session (tests/live_portal.py).

Chromium resolves ``*.localhost`` to loopback by itself, so tenant subdomains work without
/etc/hosts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_portal import LivePortal, live_portal_in

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def live_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: script/test installs it with apt-get.")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with live_portal_in(tmp_path_factory.mktemp("live-portal")) as portal:
        yield portal


# Module scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and Django then refuses database calls from every later test
# ("SynchronousOnlyOperation") until the session ends.
@pytest.fixture(scope="module")
def browser(live_portal: LivePortal) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()

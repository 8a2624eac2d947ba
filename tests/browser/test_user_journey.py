"""A new customer's first visit, in a real browser against a real portal (issue: main job)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def test_sign_up_add_repository_watch_indexing_search_and_open_result(live_portal, browser):
    page = browser.new_page()
    page.set_default_timeout(60_000)

    page.goto(live_portal.url())
    page.fill("input[name=name]", "Umbrella")
    page.fill("input[name=slug]", "umbrella")
    page.fill("input[name=admin_email]", "alice@umbrella.example")
    page.fill("input[name=password]", "Umbrella-Pass-2026")
    page.click("button[type=submit]")
    token = page.text_content("#api-token")
    assert token and token.startswith("csp_")
    page.wait_for_selector("#site-link:not([hidden])", timeout=120_000)
    assert page.text_content("#tenant-status") == "ready"

    site = live_portal.url("umbrella.localhost")
    page.goto(site + "login/")
    page.fill("input[name=username]", "alice@umbrella.example")
    page.fill("input[name=password]", "Umbrella-Pass-2026")
    page.click("button[type=submit]")
    page.goto(site + "repositories/")
    page.fill("input[name=name]", "sample")
    page.fill("input[name=path]", str(live_portal.sources / "sample"))
    page.click("form.stack button[type=submit]")

    # The job page updates by itself until the worker finishes.
    page.wait_for_url(re.compile(r".*/jobs/\d+/$"))
    # Locator waits run in Playwright's own context; the page's CSP forbids eval.
    page.locator("#job-status", has_text="succeeded").wait_for(timeout=300_000)
    assert page.get_attribute("#job-progress", "value") == "100"
    assert int(page.text_content("#job-chunks")) > 20

    page.goto(site + "?q=" + "wrap text into paragraphs of a given width")
    first = page.locator("article.result").first
    assert "click/formatting.py" in first.text_content()
    assert first.locator("mark").count() > 0
    first.locator("a.open").click()
    page.wait_for_selector(".line.marked")
    assert "def wrap_text" in page.locator(".line.marked").first.text_content()
    page.close()


def test_performance_dashboard_renders_charts_and_refreshes_itself(live_portal, browser):
    page = browser.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    site = live_portal.url("umbrella.localhost")
    page.goto(site + "login/")
    page.fill("input[name=username]", "alice@umbrella.example")
    page.fill("input[name=password]", "Umbrella-Pass-2026")
    page.click("button[type=submit]")
    page.goto(site + "manage/performance/")
    page.locator("#chart-status", has_text="updated").wait_for()
    first = page.text_content("#chart-status")
    assert page.locator("#charts .chart .main-svg").count() >= 6
    # The page fetches fresh data every few seconds without reloading.
    page.locator("#chart-status").filter(has_not_text=first).wait_for(timeout=30_000)
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.close()

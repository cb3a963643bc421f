"""Fixtures for browser tests (issue 14): the embedded system as a subprocess, Debian's
headless chromium driven by Playwright, a screenshot at the end of every test.

Without /usr/bin/chromium (apt-get install chromium) or the playwright package the tests
skip, unless PP_REQUIRE_INTEGRATION=1 (CI), where they fail, as integration fixtures do.

    def test_something(web_system, page):
        school = web_system.create_school()
        family = family_events()
        web_system.push(school, family.events)
        page.goto(web_system.invitation_link(family.parent_email))
        screenshot(page, "activate")
        assert_accessible(page)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, WebSystem, screenshot

REQUIRE = os.environ.get("PP_REQUIRE_INTEGRATION") == "1"
HERE = Path(__file__).resolve().parent
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _missing(what: str):
    message = f"{what}: the browser tests need it"
    if REQUIRE:
        pytest.fail(message + " (PP_REQUIRE_INTEGRATION=1)")
    pytest.skip(message)


def pytest_collection_modifyitems(items):
    for item in items:  # every test in this folder is a browser test
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed  # the end-of-test screenshot's name says so


@pytest.fixture(scope="package")
def playwright_session():
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing (make install)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_session):
    """Debian's chromium, launched once for all browser tests (package scope: it and the
    system stop when the last browser test ends, not at the end of the whole suite)."""
    browser = playwright_session.chromium.launch(executable_path=CHROMIUM,
                                                 args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def web_system(tmp_path_factory) -> Iterator[WebSystem]:
    """The whole system (`python -m shared.embedded`) on a free port with its own data
    folder and a bootstrap operator, shared by all browser tests (each test makes
    its own school). See tests/browser/support.py WebSystem for the API helpers."""
    system = WebSystem(tmp_path_factory.mktemp("web-system"))
    try:
        system.wait_ready()
        yield system
    finally:
        system.stop()


@pytest.fixture
def open_page(browser, request) -> Iterator[Callable]:
    """Factory: a page in a fresh browser context (own cookies and storage), e.g.
    open_page(viewport=PHONE, name="phone"). Each page is screenshotted when the test ends."""
    opened = []

    def make(viewport: dict | None = None, name: str = "page", **context_args):
        context = browser.new_context(viewport=viewport or DESKTOP, locale="en-GB",
                                      **context_args)
        page = context.new_page()
        page.console_errors = []  # CSP refusals and script errors, for a test to assert on
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        opened.append((name, context, page))
        return page

    yield make
    failed = getattr(request.node, "browser_failed", False)
    for name, context, page in opened:
        try:
            screenshot(page, f"{name}-end" + ("-failed" if failed else ""))
        except Exception as exc:  # a closed page must not hide the test's own result
            print(f"no end-of-test screenshot of {name}: {exc}")
        context.close()


@pytest.fixture
def page(open_page):
    """A fresh desktop-sized page in Debian's chromium; screenshotted when the test ends
    (tests/artifacts/browser/ or $PP_TEST_ARTIFACTS)."""
    return open_page()

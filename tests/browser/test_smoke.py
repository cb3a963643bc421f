"""The browser test machinery itself: Debian's chromium opens the web app at `/` from the
running system, and axe-core finds no serious or critical violation there."""
import pytest

from tests.browser.support import assert_accessible, screenshot


def test_home_page_shows_and_is_accessible(page, web_system):
    response = page.goto(web_system.url("/"))
    assert response is not None
    if response.status == 404 and "json" in response.headers.get("content-type", ""):
        # The gateway does not serve the web app yet (issue 14 in progress).
        pytest.xfail("GET / answers the API's 404: the web app is not served yet")
    assert response.status == 200, response.status
    assert "text/html" in response.headers["content-type"]
    assert page.title().strip()
    page.wait_for_load_state("networkidle")
    assert page.locator("body").inner_text().strip(), "the page shows nothing"
    screenshot(page, "home")
    assert_accessible(page)
    assert not page.console_errors, page.console_errors  # no CSP refusal, no script error

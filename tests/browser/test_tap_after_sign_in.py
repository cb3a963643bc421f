"""A tap right after signing in lands where the person aimed. Twice the fresh-clone CI lost a
click on "Reports for <child>" just after the parent's home was drawn: something drawn after
the screen (the "You are signed in." status, 50 ms later) pushed the home down under the
pointer. Once a screen is drawn, nothing drawn after it may move or replace what is on it.

The answers after sign-in arrive slowly (CDP: 300 ms on every request, the CPU four times
slower), as on a slow phone. Where the link is when the script that drew the screen returns
(a task queued as it is inserted: after that script, before any timer it started) is where a
person aims; the tap lands there once the sign-in is done (the status said), and must open
the link. Deterministic: it depends on what is drawn after the screen, not on timing."""
import json
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.support import family_events, no_script_errors, page_heading, screenshot
from tests import second_factor
from tests.support import wait_for

PASSWORD = "a-parent-password-1"

# Records, for the first <a> in <main> whose text is `name`, where it is once the script that
# inserted it has returned, and keeps the element to check it is never replaced.
WATCH = """
(name) => {
  const seen = { at: null, link: null };
  window.__tapTarget = seen;
  const observer = new MutationObserver(() => {
    if (seen.link) return;
    const link = [...document.querySelectorAll("main a")].find((a) => a.textContent === name);
    if (!link) return;
    seen.link = link;
    window.setTimeout(() => {
      const box = link.getBoundingClientRect();
      seen.at = { x: box.x + box.width / 2, y: box.y + box.height / 2, top: box.y };
    }, 0);
  });
  observer.observe(document, { childList: true, subtree: true });
}
"""


def _watch(page, name: str) -> None:
    page.add_init_script(script=f"({WATCH})({json.dumps(name)})")


def _slow_phone(page) -> None:
    """Every answer 300 ms late and the CPU four times slower, from now on."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 300,
                                                  "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})


def _tap_where_first_seen(page, touch: bool) -> None:
    """Taps where the watched link was when drawn; it is still there, the same element."""
    seen = page.wait_for_function("() => window.__tapTarget.at", timeout=30000).json_value()
    now = page.evaluate("""() => { const s = window.__tapTarget;
        const box = s.link.getBoundingClientRect();
        return { connected: s.link.isConnected, top: box.y }; }""")
    if touch:
        page.touchscreen.tap(seen["x"], seen["y"])
    else:
        page.mouse.click(seen["x"], seen["y"])
    assert now["connected"], "the link was replaced after it was drawn"
    assert now["top"] == seen["top"], f"the link moved after it was drawn: {seen} -> {now}"


def _parent_with_a_report(web_system, language: str | None):
    school = web_system.create_school(f"Tap Academy {uuid.uuid4().hex[:6]}")
    family = family_events(children=1)
    (kid,) = family.children
    web_system.push(school, family.events)
    web_system.publish(school, "2026 Autumn", expect=1, title="Autumn report")
    token = web_system.activate(family.parent_email, PASSWORD)
    (link,) = web_system.links(token, count=1)
    wait_for(lambda: web_system.call(
        "post", f"/api/v1/links/{link['id']}/verify", token,
        json={"date_of_birth": kid.date_of_birth}).status_code == 200,
        timeout=60, interval=0.2, message="the link verified")
    web_system.reports_of(token, link["student"]["id"])
    if language:  # recorded on the account: the app follows it after the sign-in
        answer = web_system.call("patch", "/api/v1/me", token, json={"language": language})
        assert answer.status_code == 200, answer.text
    return family, kid


@pytest.mark.parametrize("viewport, language", [(PHONE, None), (DESKTOP, "cy")],
                         ids=["phone-english", "desktop-welsh-on-the-account"])
def test_a_parent_taps_reports_for_a_child_as_soon_as_the_home_shows(web_system, open_page,
                                                                     viewport, language):
    family, kid = _parent_with_a_report(web_system, language)
    touch = viewport == PHONE
    page = open_page(viewport=viewport, name="phone" if touch else "desktop", has_touch=touch)
    welsh = language == "cy"
    _watch(page, f"Adroddiadau {kid.name}" if welsh else f"Reports for {kid.name}")
    page.goto(web_system.url("/children"))
    page.get_by_label("Email").fill(family.parent_email)
    page.get_by_label("Password").fill(PASSWORD)
    _slow_phone(page)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#status")).to_have_text(
        "Rydych chi wedi mewngofnodi." if welsh else "You are signed in.", timeout=30000)
    screenshot(page, "home-signed-in")
    _tap_where_first_seen(page, touch)
    expect(page_heading(page)).to_have_text(
        f"Adroddiadau {kid.name}" if welsh else f"Reports for {kid.name}", timeout=30000)
    screenshot(page, "reports-after-the-tap")
    no_script_errors(page)


def test_an_admin_taps_a_link_on_the_console_as_soon_as_it_shows(web_system, open_page):
    school = web_system.create_school(f"Tap Console {uuid.uuid4().hex[:6]}")
    page = open_page(name="admin")
    _watch(page, "Overdue")
    page.goto(web_system.url("/"))
    web_system.sign_in(school.admin_email, school.admin_password)  # enrols the authenticator
    page.get_by_label("Email").fill(school.admin_email)
    page.get_by_label("Password").fill(school.admin_password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Code", exact=True).fill(second_factor.code_for(school.admin_email))
    _slow_phone(page)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#status")).to_have_text("You are signed in.", timeout=30000)
    screenshot(page, "console-signed-in")
    _tap_where_first_seen(page, touch=False)
    expect(page.get_by_role("navigation", name="Which requests").get_by_role(
        "link", name="Overdue")).to_have_attribute("aria-current", "page", timeout=30000)
    screenshot(page, "console-after-the-tap")
    no_script_errors(page)

"""Issue 24: every screen that fetches shows that it is loading (an accessible status, and
<main> aria-busy) until its answer comes; a parent's children are listed in one order on
every screen (home, the reports' "Choose a child", the requests' sections): by the name the
school gave, given name first, then by id (web/assets/children.js). Chromium, axe,
screenshots on a desktop and a 390 px phone."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (assert_accessible, family_events, main_nav, no_script_errors,
                                   page_heading, screenshot, service_worker_in_control)

PASSWORD = "a-parent-password-1"
# Given and family names chosen so that the pushed order, the family-name order and the
# given-name order all differ.
NAMES = [("Zara", "Able"), ("Ada", "Zed"), ("Milo", "Moss")]
IN_ORDER = ["Ada Zed", "Milo Moss", "Zara Able"]


def _confirmed_family(web_system):
    """A school, a parent with the three children of NAMES confirmed (through the API) and a
    published report each."""
    school = web_system.create_school()
    family = family_events(children=3)
    renames = {child.source_id: names for child, names in zip(family.children, NAMES)}
    for event in family.events:
        if event["type"] == "student.upserted":
            given, family_name = renames[event["source_id"]]
            event["data"].update(given_name=given, family_name=family_name)
    for child in family.children:
        child.name = " ".join(renames[child.source_id])
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=3)
    token = web_system.activate(family.parent_email, PASSWORD)
    born = {child.name: child.date_of_birth for child in family.children}
    for link in web_system.links(token, count=3):
        answer = web_system.call("post", f"/api/v1/links/{link['id']}/verify", token,
                                 json={"date_of_birth": born[link["student"]["name"]]})
        assert answer.status_code == 200, answer.text
    for link in web_system.links(token, count=3):  # reports has learnt of each link
        web_system.reports_of(token, link["student"]["id"])
    return family


def _sign_in(page, email):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _loading(page):
    return page.get_by_role("status").filter(has_text="Loading…")


def test_children_are_in_one_order_on_every_screen(web_system, open_page):
    family = _confirmed_family(web_system)
    for viewport, name in ((None, "desktop"), (PHONE, "phone")):
        page = open_page(viewport=viewport, name=name)
        page.goto(web_system.url("/sign-in"))
        _sign_in(page, family.parent_email)
        expect(page_heading(page)).to_have_text("Your children")
        main = page.get_by_role("main")
        expect(main.locator("section.card > h2")).to_have_text(IN_ORDER)
        screenshot(page, f"{name}-home")

        main_nav(page, "Reports").click()
        expect(page_heading(page)).to_have_text("Reports for Ada Zed")  # the first child
        switcher = page.get_by_role("navigation", name="Choose a child")
        expect(switcher.get_by_role("link")).to_have_text(IN_ORDER)
        screenshot(page, f"{name}-reports")

        main_nav(page, "Requests").click()
        expect(page_heading(page)).to_have_text("Your requests")
        expect(main.locator("section.card > h2").filter(has_text=re.compile("^About "))) \
            .to_have_text([f"About {child}" for child in IN_ORDER])
        screenshot(page, f"{name}-requests")
        assert_accessible(page, name=f"axe-{name}-requests")
        no_script_errors(page)


def _held_while_loading(page, answer: str, heading, open_screen, shot: str | None = None):
    """Hold the API's `answer` (a regex) while `open_screen()` runs: the screen says it is
    loading (the status, <main> aria-busy) until the answer is let through, then shows
    `heading` and neither. The screen being left stays where it is meanwhile: neither the
    "Loading…" box, nor the navigation of the next state, nor its messages going move it
    under a second tap. `shot`: a screenshot and axe while it loads."""
    held = []

    def hold(route):
        held.append(route)
    pattern = re.compile(answer)
    page.route(pattern, hold)
    before = page_heading(page).bounding_box()
    open_screen()
    expect(_loading(page)).to_be_visible()
    expect(page.get_by_role("main")).to_have_attribute("aria-busy", "true")
    assert page_heading(page).bounding_box() == before, "the screen moved while loading"
    if shot:
        screenshot(page, shot)
        assert_accessible(page, name=f"axe-{shot}")
    assert len(held) == 1, f"{answer}: {len(held)} answers held"
    held.pop().continue_()
    page.unroute(pattern, hold)
    expect(page_heading(page)).to_have_text(heading)
    expect(_loading(page)).to_be_hidden()
    expect(page.get_by_role("main")).not_to_have_attribute("aria-busy", "true")


def test_every_screen_that_fetches_shows_it_is_loading(web_system, open_page):
    family = _confirmed_family(web_system)
    for viewport, name in ((None, "desktop"), (PHONE, "phone")):
        page = open_page(viewport=viewport, name=name)
        page.goto(web_system.url("/sign-in"))
        expect(page_heading(page)).to_have_text("Sign in")
        _held_while_loading(page, r"/api/v1/links(\?|$)", "Your children",
                            lambda: _sign_in(page, family.parent_email), shot=f"{name}-loading")
        # The rest with the service worker in control (it leaves the API to the network).
        service_worker_in_control(page)
        _held_while_loading(page, r"/api/v1/students/[^/]+/reports(\?|$)", "Reports for Ada Zed",
                            lambda: main_nav(page, "Reports").click())
        _held_while_loading(page, r"/api/v1/reports/[0-9a-f-]{36}$", re.compile(family.period),
                            lambda: page.get_by_role("main").get_by_role("link").filter(
                                has_text=family.period).first.click())
        _held_while_loading(page, r"/api/v1/subject-requests$", "Your requests",
                            lambda: main_nav(page, "Requests").click())
        _held_while_loading(page, r"/api/v1/notification-preferences$", "Email notifications",
                            lambda: main_nav(page, "Notifications").click())
        _held_while_loading(page, r"/api/v1/data-map$", "How we keep your data safe",
                            lambda: main_nav(page, "How we keep your data safe").click())
        no_script_errors(page)


def test_the_school_console_shows_it_is_loading_too(web_system, page):
    school = web_system.create_school()
    page.goto(web_system.url("/sign-in"))
    web_system.staff_signs_in(page, school.admin_email, school.admin_password)
    expect(page_heading(page)).to_have_text("Subject requests")
    _held_while_loading(page, r"/api/v1/links/students\?", "Links between parents and children",
                        lambda: main_nav(page, "Links").click(), shot="admin-loading")
    _held_while_loading(page, r"/api/v1/school-data/batches\?", "School data",
                        lambda: main_nav(page, "School data").click())
    _held_while_loading(page, r"/api/v1/subject-requests\?", "Subject requests",
                        lambda: main_nav(page, "Requests").click())
    no_script_errors(page)

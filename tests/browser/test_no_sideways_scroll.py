"""Issue 24, "no horizontal scroll on any screen at 390 px wide": a parent's screens and a
school admin's (the Reports page scrolled sideways on a phone), each with content in it,
checked in Chromium on a 390 px phone, with axe and a screenshot each. The operator's
screens have their own check (test_console_operator.py)."""
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (ADMIN_PASSWORD, assert_accessible, family_events,
                                   no_script_errors, page_heading, screenshot, student)
from tests.support import wait_for

PASSWORD = "a-parent-password-1"


def _sign_in(page, email, password):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _fits(page, label):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    screenshot(page, f"phone-{label}")
    assert overflow <= 0, f"{label} is {overflow}px wider than the phone"
    assert_accessible(page, name=f"axe-phone-{label}")


def test_no_parent_or_school_admin_screen_scrolls_sideways_on_a_phone(web_system, open_page):
    school = web_system.create_school()
    family = family_events(children=2)
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=2,
                       title="Autumn progress report with a long title for a phone")
    token = web_system.activate(family.parent_email, PASSWORD)
    links = web_system.links(token, count=2)
    births = {kid.name: kid.date_of_birth for kid in family.children}
    for link in links:
        wait_for(lambda: web_system.call(
            "post", f"/api/v1/links/{link['id']}/verify", token,
            json={"date_of_birth": births[link["student"]["name"]]}).status_code == 200,
            timeout=60, interval=0.2, message="the link verified")
    student = links[0]["student"]["id"]
    (report,) = web_system.reports_of(token, student)

    admin = open_page(viewport=PHONE, name="admin-phone")
    admin.goto(web_system.url("/reports"))
    web_system.staff_signs_in(admin, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(admin)).to_have_text("Reports")
    expect(admin.get_by_text("Autumn progress report with a long title").first).to_be_visible()
    for path, label, heading in (
            ("/reports", "admin-reports", "Reports"),
            (f"/reports/{report['id']}", "admin-report-preview", None),
            ("/requests", "admin-requests", "Subject requests"),
            ("/links", "admin-links", None),
            (f"/links/{student}", "admin-student-links", None),
            ("/school-data", "admin-school-data", "School data"),
            ("/privacy", "admin-privacy", None)):
        admin.goto(web_system.url(path))
        if heading:
            expect(page_heading(admin)).to_have_text(heading)
        else:
            expect(page_heading(admin)).not_to_be_empty()
        admin.wait_for_load_state("networkidle")
        _fits(admin, label)
    no_script_errors(admin)

    parent = open_page(viewport=PHONE, name="parent-phone")
    parent.goto(web_system.url("/children"))
    _sign_in(parent, family.parent_email, PASSWORD)
    expect(page_heading(parent)).to_have_text("Your children")
    for path, label in (("/children", "children"), (f"/reports?student={student}", "reports"),
                        (f"/reports/{report['id']}", "report"), ("/requests", "requests"),
                        ("/notifications", "notifications"), ("/privacy", "privacy"),
                        ("/account", "account")):
        parent.goto(web_system.url(path))
        expect(page_heading(parent)).not_to_be_empty()
        parent.wait_for_load_state("networkidle")
        _fits(parent, label)
    no_script_errors(parent)


def test_no_student_or_signed_out_screen_scrolls_sideways_on_a_phone(web_system, open_page):
    """The rest of "every screen": a student's own (reports, a report, requests, emails,
    account, privacy) and the screens before signing in (sign in, activation, forgotten
    password), and a parent's account screen."""
    school = web_system.create_school(student_accounts=True)
    family = family_events(children=1)
    kid = family.children[0]
    email = f"{kid.source_id.lower()}@students.browser-tests.example"
    events = [student(kid.source_id, kid.name.split()[0], "Testchild", kid.date_of_birth,
                      email=email) if e["source_id"] == kid.source_id else e
              for e in family.events]
    web_system.push(school, events)
    web_system.publish(school, family.period, expect=1,
                       title="Autumn progress report with a long title for a phone")
    page = open_page(viewport=PHONE, name="signed-out-phone")
    page.goto(web_system.url("/sign-in"))
    expect(page_heading(page)).to_have_text("Sign in")
    _fits(page, "sign-in")
    page.goto(web_system.url("/forgot-password"))
    expect(page_heading(page)).not_to_be_empty()
    _fits(page, "forgot-password")
    page.goto(web_system.invitation_link(email))
    expect(page_heading(page)).to_have_text("Activate your account")
    _fits(page, "activate")
    page.get_by_label("Choose a password").fill("a-student-password-1")
    page.get_by_label("Repeat the password").fill("a-student-password-1")
    page.get_by_role("button", name="Activate").click()
    _sign_in(page, email, "a-student-password-1")
    expect(page_heading(page)).to_have_text("Your reports")
    _fits(page, "student-reports")
    page.get_by_role("link", name="Autumn progress report with a long title for a phone",
                     exact=True).click()
    expect(page.get_by_role("heading", name="Attainment against target")).to_be_visible()
    _fits(page, "student-report")
    for path, label in (("/requests", "student-requests"),
                        ("/notifications", "student-notifications"),
                        ("/account", "student-account"), ("/privacy", "student-privacy")):
        page.goto(web_system.url(path))
        expect(page_heading(page)).not_to_be_empty()
        page.wait_for_load_state("networkidle")
        _fits(page, label)
    no_script_errors(page)

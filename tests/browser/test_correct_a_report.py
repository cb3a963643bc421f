"""Issue 24, "a published report can be corrected": publishing asks to confirm, says how
many parents will be emailed and offers a preview of a report first; an embargo in the past
is refused beside its field; a published report is corrected (the parents told of it are
emailed only when the admin ticks the box) and the parent sees only the new version,
"updated on"; a withdrawn report disappears for the parent. Chromium, axe, screenshots on a
desktop and a phone."""
import datetime as dt
import email
import email.policy
import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (ADMIN_PASSWORD, assert_accessible, attainment,
                                   family_events, main_nav, no_script_errors, page_heading,
                                   screenshot)
from tests.support import wait_for

PASSWORD = "a-parent-password-1"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def _sign_in(page, address, password):
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _verified_parent(web_system, family) -> str:
    token = web_system.activate(family.parent_email, PASSWORD)
    (link,) = web_system.links(token)
    wait_for(lambda: web_system.call("post", f"/api/v1/links/{link['id']}/verify", token,
                                     json={"date_of_birth": family.children[0].date_of_birth}
                                     ).status_code == 200,
             timeout=60, interval=0.2, message="the link verified")
    return token


def _subjects_of_the_draft(web_system, school, period) -> str:
    answer = web_system.call("get", "/api/v1/reports/draft", school.admin_token,
                             params={"period": period})
    return str(answer.json().get("subjects")) if answer.status_code == 200 else ""


def _mails(web_system, address: str, subject_start: str) -> list:
    found = []
    for path in web_system.mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]) and str(message["Subject"]).startswith(
                subject_start):
            found.append(message)
    return found


def test_an_admin_publishes_after_a_preview_corrects_then_withdraws_and_the_parent_follows(
        web_system, open_page):
    school = web_system.create_school()
    family = family_events(children=1)
    (kid,) = family.children
    web_system.push(school, family.events)
    parent_token = _verified_parent(web_system, family)
    wait_for(lambda: "Testchild" in str(web_system.call(
        "get", "/api/v1/reports/draft", school.admin_token,
        params={"period": family.period}).json()), timeout=60, interval=0.2,
        message="reports has the period's data")

    admin = open_page(name="admin")
    admin.goto(web_system.url("/reports"))
    web_system.staff_signs_in(admin, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(admin)).to_have_text("Reports")

    # An embargo in the past: refused beside its field, nothing to confirm.
    admin.get_by_label("Title", exact=True).fill("Autumn progress report")
    past = (dt.datetime.now() - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    admin.get_by_label("Visible to parents from (optional)").fill(past)
    admin.get_by_role("button", name="Publish").click()
    expect(admin.get_by_label("Visible to parents from (optional)")).to_have_accessible_description(
        re.compile("That date has passed"))
    expect(admin.get_by_role("heading", name="Check before publishing")).to_have_count(0)
    admin.get_by_label("Visible to parents from (optional)").fill("")

    # Confirm: how many parents are told, and a preview of a report first.
    admin.get_by_role("button", name="Publish").click()
    expect(admin.get_by_role("heading", name="Check before publishing")).to_be_focused()
    expect(admin.get_by_text("1 parent with a confirmed link will be emailed now")
           ).to_be_visible()
    admin.get_by_text(f"See the report for {kid.name} before publishing").click()
    expect(admin.get_by_text("Nothing is published yet.")).to_be_visible()
    expect(admin.get_by_role("region", name="Maths (7A Maths)")).to_contain_text(
        "Ms Tess Teacherly")
    assert web_system.call("get", "/api/v1/reports", school.admin_token
                           ).json()["items"] == []  # the preview published nothing
    screenshot(admin, "publish-confirm")
    assert_accessible(admin, name="axe-publish-confirm")
    admin.get_by_role("button", name="Yes, publish 1 report").click()
    expect(admin.get_by_role("status")).to_contain_text(f"Published 1 report for {family.period}")
    wait_for(lambda: _mails(web_system, family.parent_email, "A new report for"),
             timeout=60, interval=0.2, message="the parent told of the report")

    # The school fixes the Maths grade in its system; the admin corrects the report.
    maths_grade = next(e for e in family.events if e["source_id"].endswith("-Maths-grade"))
    web_system.push(school, [attainment(maths_grade["source_id"], kid.source_id,
                                        maths_grade["data"]["class_id"], family.period,
                                        "grade", "7")])
    wait_for(lambda: "'7'" in _subjects_of_the_draft(web_system, school, family.period),
             timeout=60, interval=0.2, message="the corrected grade arrived")
    published = admin.get_by_role("table", name="Reports, newest first")
    published.get_by_role("link", name=f"Preview the report for {kid.name}").click()
    expect(page_heading(admin)).to_have_text("Autumn progress report")
    correction = admin.get_by_role("region", name="Correct or withdraw this report")
    correction.get_by_label("Email the parents who were told about this report").check()
    correction.get_by_role("button", name="Correct the report").click()
    expect(admin.get_by_role("status")).to_contain_text("The report is corrected")
    expect(admin.locator("main .meta").first).to_contain_text("updated on")
    screenshot(admin, "report-corrected")
    assert_accessible(admin, name="axe-report-corrected")
    updated = wait_for(lambda: _mails(web_system, family.parent_email,
                                      "An updated report for"),
                       timeout=60, interval=0.2, message="the updated-report email")
    assert str(updated[0]["Subject"]).startswith(f"An updated report for {kid.name} at ")

    # The parent sees only the new version, marked "updated on", on a desktop and a phone.
    student_id = web_system.links(parent_token)[0]["student"]["id"]
    for name, viewport in (("parent", None), ("parent-phone", PHONE)):
        parent = open_page(name=name, viewport=viewport)
        parent.goto(web_system.url(f"/reports?student={student_id}"))
        _sign_in(parent, family.parent_email, PASSWORD)
        expect(page_heading(parent)).to_have_text(f"Reports for {kid.name}")
        expect(parent.get_by_role("link", name="Autumn progress report")).to_have_count(1)
        expect(parent.get_by_text(re.compile("updated on"))).to_be_visible()
        parent.get_by_role("link", name="Autumn progress report").click()
        expect(page_heading(parent)).to_have_text("Autumn progress report")
        expect(parent.locator("main .meta").first).to_contain_text("updated on")
        screenshot(parent, "parent-sees-the-corrected-report")
        assert_accessible(parent, name=f"axe-{name}-corrected-report")
        assert parent.evaluate(NO_SIDEWAYS_SCROLL)
        no_script_errors(parent)

    # Withdrawn: gone for the parent; the school's list says so.
    admin.get_by_role("button", name="Withdraw the report").click()
    admin.get_by_role("button", name="Yes, withdraw the report").click()
    expect(admin.get_by_role("status")).to_contain_text("The report is withdrawn")
    expect(admin.get_by_text(re.compile("^Withdrawn on"))).to_be_visible()
    expect(admin.get_by_role("region", name="Correct or withdraw this report")
           ).to_have_count(0)
    screenshot(admin, "report-withdrawn")
    main_nav(admin, "Reports").click()
    expect(admin.get_by_role("table", name="Reports, newest first").get_by_role(
        "row", name=re.compile("Autumn progress report"))).to_contain_text("Withdrawn on")
    no_script_errors(admin)
    assert web_system.call("get", f"/api/v1/students/{student_id}/reports", parent_token
                           ).json()["items"] == []

    phone = open_page(name="admin-phone", viewport=PHONE)
    phone.goto(web_system.url("/reports"))
    web_system.staff_signs_in(phone, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(phone)).to_have_text("Reports")
    # The reports table scrolls in its box, not the page (visually hidden text in its cells
    # once widened the page).
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    phone.get_by_label("Title", exact=True).fill("Second look")
    phone.get_by_role("button", name="Publish").click()
    expect(phone.get_by_role("heading", name="Check before publishing")).to_be_focused()
    phone.get_by_text(f"See the report for {kid.name} before publishing").click()
    # The report's tables scroll sideways in the narrow box: each then takes the focus.
    expect(phone.get_by_role("region", name=re.compile("scrolls sideways")).first
           ).to_be_visible()
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(phone, "publish-confirm-phone")
    assert_accessible(phone, name="axe-publish-confirm-phone")

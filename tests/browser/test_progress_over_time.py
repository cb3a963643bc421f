"""Issue 24, "progress over time": a report shows each subject's grade in every published
report of the school year against its target (a chart and its table, standing in words),
what changed since the last report, attendance as a percentage; the parent's home shows
each child's latest report and its trend. Chromium, axe, screenshots (desktop and phone)."""
import uuid

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (assert_accessible, family_events, fill_date, no_script_errors,
                                   page_heading, screenshot)

PASSWORD = "a-parent-password-1"


def _second_period(events: list[dict], period: str) -> list[dict]:
    """The same people and classes with a new period's results: Maths grade up to 6,
    attendance down to 93.5%, effort in Maths from Good to Excellent."""
    out = []
    for event in events:
        if event["type"] not in ("attainment.recorded", "characteristic.recorded"):
            continue
        data = {**event["data"], "period": period}
        if data.get("kind") == "grade" and data["class_id"].endswith("-Maths"):
            data["value"] = "6"
        if data.get("kind") == "attendance":
            data["value"] = "93.5"
        if data.get("kind") == "effort" and data["class_id"].endswith("-Maths"):
            data["value"] = "Excellent"
        out.append({**event, "source_id": event["source_id"] + "-p2", "data": data})
    return out


def _sign_in(page, address):
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_a_report_shows_progress_over_the_year_and_home_shows_the_trend(web_system,
                                                                       open_page):
    school = web_system.create_school(f"Progress Academy {uuid.uuid4().hex[:6]}")
    family = family_events(children=1, period="2026 Autumn")
    (kid,) = family.children
    web_system.push(school, family.events)
    web_system.publish(school, "2026 Autumn", expect=1, title="Autumn report")
    web_system.push(school, _second_period(family.events, "2027 Spring"))
    web_system.publish(school, "2027 Spring", expect=1, title="Spring report")
    web_system.activate(family.parent_email, PASSWORD)
    page = open_page(name="desktop")
    page.goto(web_system.url("/children"))
    _sign_in(page, family.parent_email)
    child = page.get_by_role("region", name=kid.name)
    fill_date(child, kid.date_of_birth)
    child.get_by_role("button", name="Confirm").click()
    expect(child.get_by_text("Confirmed")).to_be_visible()
    # The reports screen waits until the reports part of the system knows the link (a
    # few seconds at most: it asks again for up to 10.5 s); the home, drawn again after
    # it, then has each child's trend.
    child.get_by_role("link", name=f"Reports for {kid.name}").click()
    expect(page.get_by_role("link", name="Spring report")).to_be_visible(timeout=20000)
    page.goto(web_system.url("/children"))
    child = page.get_by_role("region", name=kid.name)
    expect(child.get_by_role("link", name="Spring report")).to_be_visible()
    trend = child.get_by_role("list", name=f"Since the last report, for {kid.name}")
    expect(trend).to_contain_text("Maths: up from 5 to 6")
    expect(trend).to_contain_text("English: no change (5)")
    expect(trend).to_contain_text("Attendance: down from 96.5% to 93.5%")
    expect(trend).to_contain_text("Effort in Maths: changed from Good to Excellent")
    expect(trend).not_to_contain_text("Attitude")  # at a glance: what changed only
    screenshot(page, "home-trend")
    assert_accessible(page, name="axe-home-trend")

    child.get_by_role("link", name="Spring report").click()
    expect(page_heading(page)).to_have_text("Spring report")
    section = page.get_by_role("region", name="Progress this school year")
    expect(section.get_by_role("heading", name="What changed since the last report")
           ).to_be_visible()
    expect(section).to_contain_text("Maths: up from 5 to 6")
    expect(section.get_by_role("img", name="Grades over the school year")).to_be_visible()
    table = section.get_by_role("table",
                                name="Grades in each report this school year, against target")
    maths = table.get_by_role("row", name="Maths (7A Maths)")
    expect(maths).to_contain_text("5 (target 6): Below target")
    expect(maths).to_contain_text("6 (target 6): On target")
    expect(maths).to_contain_text("up")
    expect(table.get_by_role("row", name="Attendance")).to_contain_text("96.5%")
    expect(table.get_by_role("row", name="Attendance")).to_contain_text("93.5%")
    traits = section.get_by_role(
        "table", name="Attitude, effort and behaviour in each report this school year")
    effort = traits.get_by_role("row", name="Effort in Maths (7A Maths)")
    expect(effort).to_contain_text("Good")
    expect(effort).to_contain_text("Excellent")
    expect(effort).to_contain_text("changed")
    expect(traits.get_by_role("row", name="Attitude in English (7A English)")
           ).to_contain_text("no change")
    expect(section).to_contain_text("Effort in Maths: changed from Good to Excellent")
    general = page.get_by_role("region", name="General")
    expect(general).to_contain_text("93.5%")
    screenshot(page, "report-progress")
    assert_accessible(page, name="axe-report-progress")
    no_script_errors(page)

    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(page.url)
    _sign_in(phone, family.parent_email)
    expect(phone.get_by_role("region", name="Progress this school year")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "report-progress-phone")
    assert_accessible(phone, name="axe-report-progress-phone")

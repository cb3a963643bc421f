"""The web app in Debian's headless chromium against the running system (issue 14): from the
invitation email to reading a report, a wrong date of birth showing the attempts left and
then the lock, a request for one's data shown as waiting for the school, the data-map page,
a student's own reports, a phone screen; axe-core on every screen, screenshots as artefacts.

The accessible names used here are the contract in web/README.md."""
import re
import uuid

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (
    assert_accessible, family_events, fill_date, guardian, main_nav, no_script_errors, page_heading,
    said_once, screenshot, student)
from tests.support import wait_for

PASSWORD = "a-parent-password-1"


def _activate_in_browser(page, web_system, email, password=PASSWORD):
    link = web_system.invitation_link(email)
    response = page.goto(link)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    expect(page_heading(page)).to_have_text("Activate your account")
    assert "token=" not in page.url  # the token leaves the address bar at once
    screenshot(page, "activate")
    assert_accessible(page, name="axe-activate")
    page.get_by_label("Choose a password").fill(password)
    page.get_by_label("Repeat the password").fill(password)
    page.get_by_role("button", name="Activate").click()
    expect(page_heading(page)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_contain_text("Your account is active")


def _sign_in(page, email, password=PASSWORD):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _school_with_family(web_system, children=2, title=None):
    school = web_system.create_school()
    family = family_events(children=children)
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=children, title=title)
    return school, family


def test_a_parent_goes_from_the_invitation_email_to_reading_a_report(web_system, page):
    _, family = _school_with_family(web_system, title="Autumn progress report")
    first, second = family.children
    _activate_in_browser(page, web_system, family.parent_email)
    screenshot(page, "sign-in")
    assert_accessible(page, name="axe-sign-in")
    _sign_in(page, family.parent_email)
    expect(page_heading(page)).to_have_text("Your children")
    child = page.get_by_role("region", name=first.name)
    expect(child.get_by_role("group", name="Date of birth")).to_be_visible()
    screenshot(page, "children")
    assert_accessible(page, name="axe-children")

    fill_date(child, "2010-01-01")
    child.get_by_role("button", name="Confirm").click()
    expect(child.get_by_text("2 attempts left")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("2 attempts left")
    screenshot(page, "wrong-date-of-birth")
    assert_accessible(page, name="axe-wrong-date-of-birth")

    fill_date(child, first.date_of_birth)
    child.get_by_role("button", name="Confirm").click()
    expect(child.get_by_text("Confirmed")).to_be_visible()
    other = page.get_by_role("region", name=second.name)
    fill_date(other, second.date_of_birth)
    other.get_by_role("button", name="Confirm").click()
    expect(other.get_by_text("Confirmed")).to_be_visible()

    main_nav(page, "Reports").click()
    expect(page_heading(page)).to_have_text(re.compile(r"^Reports for "))
    expect(page.get_by_role("heading", level=1)).to_be_focused()  # focus follows navigation
    switcher = page.get_by_role("navigation", name="Choose a child")
    switcher.get_by_role("link", name=first.name).click()
    expect(page_heading(page)).to_have_text(f"Reports for {first.name}")
    screenshot(page, "reports")
    assert_accessible(page, name="axe-reports")

    page.get_by_role("link", name="Autumn progress report", exact=True).click()
    expect(page_heading(page)).to_have_text("Autumn progress report")
    expect(page.get_by_role("heading", name="Attainment against target")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("grades against targets"))).to_be_visible()
    table = page.get_by_role("table", name="Grades against targets, by subject")
    expect(table.get_by_role("row", name=re.compile("Maths"))).to_contain_text("Below target")
    maths = page.get_by_role("region", name="Maths (7A Maths)")
    expect(maths).to_contain_text("Ms Tess Teacherly")
    expect(maths).to_contain_text("Effort")
    screenshot(page, "report")
    assert_accessible(page, name="axe-report")

    main_nav(page, "Requests").click()  # about a confirmed child, too
    about = page.get_by_role("region", name=f"About {first.name}")
    about.get_by_role("button", name=f"Ask for {first.name}'s data", exact=True).click()
    filed = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name=f"A copy of {first.name}'s data"))
    expect(filed).to_contain_text("Waiting for the school")
    assert_accessible(page, name="axe-requests-children")
    no_script_errors(page)


def test_three_wrong_dates_of_birth_lock_the_link_and_say_the_school_unlocks_it(web_system,
                                                                                page):
    _, family = _school_with_family(web_system, children=1)
    (kid,) = family.children
    web_system.activate(family.parent_email, PASSWORD)
    page.goto(web_system.url("/children"))
    _sign_in(page, family.parent_email)
    child = page.get_by_role("region", name=kid.name)
    for left in ("2 attempts left", "1 attempt left"):
        fill_date(child, "2011-11-11")
        child.get_by_role("button", name="Confirm").click()
        expect(child.get_by_text(left)).to_be_visible()
    fill_date(child, "2011-11-11")
    child.get_by_role("button", name="Confirm").click()
    expect(child.get_by_text("Locked", exact=True)).to_be_visible()
    expect(child).to_contain_text("Only the school can unlock it")
    expect(child.get_by_role("group", name="Date of birth")).to_have_count(0)
    screenshot(page, "locked")
    assert_accessible(page, name="axe-locked")


def test_a_request_for_my_data_is_filed_and_shown_as_waiting_for_the_school(web_system,
                                                                            page):
    _, family = _school_with_family(web_system, children=1)
    web_system.activate(family.parent_email, PASSWORD)
    page.goto(web_system.url("/requests"))
    expect(page_heading(page)).to_have_text("Sign in")
    _sign_in(page, family.parent_email)
    expect(page_heading(page)).to_have_text("Your requests")  # back where the reader was going
    assert_accessible(page, name="axe-requests-empty")
    page.get_by_role("button", name="Ask for my data", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Waiting for the school")
    filed = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="A copy of your data"))
    expect(filed).to_contain_text("Waiting for the school")
    screenshot(page, "request-filed")
    assert_accessible(page, name="axe-requests")

    page.reload()  # the list comes from the API, and the sign-in survives a reload
    expect(page.get_by_role("link", name="A copy of your data")).to_be_visible()
    page.get_by_role("link", name="A copy of your data").click()
    expect(page_heading(page)).to_have_text("A copy of your data")
    expect(page.get_by_role("main")).to_contain_text("Waiting for the school")
    assert_accessible(page, name="axe-request")

    main_nav(page, "Requests").click()
    page.get_by_role("button", name="Ask for my data to be erased").click()
    expect(page.get_by_role("heading", name="Are you sure?")).to_be_focused()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("link", name="Erasure of your data")).to_have_count(0)

    main_nav(page, "Notifications").click()
    box = page.get_by_label("Email me when a new report is published")
    expect(box).to_be_checked()
    box.uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("will not email you")
    assert_accessible(page, name="axe-notifications")
    main_nav(page, "Sign out").click()
    expect(page_heading(page)).to_have_text("Sign in")
    page.goto(web_system.url("/requests"))
    expect(page_heading(page)).to_have_text("Sign in")  # the refresh token went with sign-out


def test_how_we_keep_your_data_safe_comes_from_the_data_map(web_system, page):
    operator = web_system.operator_token()
    answer = web_system.call("post", "/api/v1/privacy-notices", operator, json={
        "version": "2027-02", "effective_date": "2027-02-28",
        "text": "Pupil Progress keeps what your school sends, no more."})
    assert answer.status_code == 202, answer.text
    data_map = web_system.call("get", "/api/v1/data-map").json()
    page.goto(web_system.url("/privacy?version=2027-02"))
    expect(page_heading(page)).to_have_text("How we keep your data safe")
    for service in data_map["services"]:
        if service["held"]:
            region = page.get_by_role(
                "region", name=service["title"], exact=True)
            expect(region.get_by_role("row")).to_have_count(len(service["held"]) + 1)
    linking = page.get_by_role("region", name="Parent and child links", exact=True)
    main = page.get_by_role("main")
    for internal in ("ingest", "dsar", "payload", "the linking service"):  # issue 24
        expect(main).not_to_contain_text(internal)
    expect(linking).to_contain_text("date of birth")
    expect(page.get_by_role("main")).to_contain_text("Version 2027-02")
    expect(page.get_by_role("region", name="Privacy notice, version 2027-02")).to_contain_text(
        "Pupil Progress keeps what your school sends, no more.")
    screenshot(page, "privacy")
    assert_accessible(page, name="axe-privacy")
    no_script_errors(page)


def test_a_student_reads_their_own_reports_on_a_phone(web_system, open_page):
    school = web_system.create_school(student_accounts=True)
    family = family_events(children=1)
    kid = family.children[0]
    email = f"{kid.source_id.lower()}@students.browser-tests.example"
    events = [student(kid.source_id, kid.name.split()[0], "Testchild", kid.date_of_birth,
                      email=email) if e["source_id"] == kid.source_id else e
              for e in family.events]
    web_system.push(school, events)
    web_system.publish(school, family.period, expect=1, title="Phone report")
    page = open_page(viewport=PHONE, name="phone")
    page.goto(web_system.invitation_link(email))
    page.get_by_label("Choose a password").fill("a-student-password-1")
    page.get_by_label("Repeat the password").fill("a-student-password-1")
    page.get_by_role("button", name="Activate").click()
    _sign_in(page, email, "a-student-password-1")
    expect(page_heading(page)).to_have_text("Your reports")
    expect(main_nav(page, "Children")).to_have_count(0)
    page.get_by_role("link", name="Phone report", exact=True).click()
    expect(page.get_by_role("heading", name="Attainment against target")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(page, "student-report-phone")
    assert_accessible(page, name="axe-student-report-phone")
    main_nav(page, "Requests").click()
    page.get_by_role("button", name="Ask for my data", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Waiting for the school")


def test_signing_in_and_moving_around_with_the_keyboard_alone(web_system, page):
    _, family = _school_with_family(web_system, children=1)
    web_system.activate(family.parent_email, PASSWORD)
    page.goto(web_system.url("/"))
    expect(page_heading(page)).to_have_text("Sign in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(family.parent_email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page_heading(page)).to_have_text("Your children")
    expect(page_heading(page)).to_be_focused()
    main_nav(page, "Notifications").focus()
    page.keyboard.press("Enter")
    expect(page_heading(page)).to_have_text("Email notifications")
    expect(page_heading(page)).to_be_focused()
    box = page.get_by_label("Email me when a new report is published")
    box.focus()
    page.keyboard.press("Space")
    expect(box).not_to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved")


def test_a_teacher_at_one_school_accepts_another_schools_invitation_as_a_parent(web_system,
                                                                                page):
    """Issue 21: school B records school A's admin as a parent. The invitation asks for
    the password the person already has (it never sets another); once accepted, the one
    login acts as A's staff or as B's parent, switched from the navigation."""
    school_a = web_system.create_school()
    school_b = web_system.create_school()
    email = school_a.admin_email
    first_link = web_system.invitation_link(email)  # A's, accepted already
    family = family_events(children=1)
    (kid,) = family.children
    for event in family.events:
        if event["type"] == "guardian.upserted":
            event["data"]["email"] = email
    web_system.push(school_b, family.events)
    web_system.publish(school_b, family.period, expect=1, title="B's autumn report")
    link = wait_for(lambda: (lambda newest: newest if newest != first_link else None)(
        web_system.invitation_link(email)), timeout=60, message="B's invitation email")

    page.goto(link)
    expect(page_heading(page)).to_have_text("Accept the invitation")
    assert "token=" not in page.url
    expect(page.get_by_label("Choose a password")).to_have_count(0)
    screenshot(page, "accept-invitation")
    assert_accessible(page, name="axe-accept-invitation")
    page.get_by_label("Your password").fill("not-the-password-1")
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page.get_by_role("alert")).to_contain_text("not the password of your login")
    said_once(page)  # the form's own alert, never the page's alert box as well (issue 24)
    screenshot(page, "accept-invitation-wrong-password")
    page.get_by_label("Your password").fill(school_a.admin_password)
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page_heading(page)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_contain_text("The invitation is accepted")

    web_system.staff_signs_in(page, email, school_a.admin_password)
    expect(page_heading(page)).to_have_text("Subject requests")  # A's console first
    main_nav(page, "Use as parent").click()
    expect(page_heading(page)).to_have_text("Your children")
    expect(main_nav(page, "Use as school staff")).to_be_visible()
    child = page.get_by_role("region", name=kid.name)
    fill_date(child, kid.date_of_birth)
    child.get_by_role("button", name="Confirm").click()
    expect(child.get_by_text("Confirmed")).to_be_visible()
    screenshot(page, "teacher-as-parent")
    assert_accessible(page, name="axe-teacher-as-parent")
    child.get_by_role("link", name=f"Reports for {kid.name}").click()
    page.get_by_role("link", name="B's autumn report", exact=True).click()
    expect(page.get_by_role("heading", name="Attainment against target")).to_be_visible()
    main_nav(page, "Use as school staff").click()
    expect(page_heading(page)).to_have_text("Subject requests")
    no_script_errors(page)


def test_a_child_without_a_date_of_birth_waits_for_the_school_and_the_parent_is_told(
        web_system, page):
    """Issue 23: the school sent no date of birth; the parent sees plainly why they cannot
    confirm yet, and the school's admin sees the link waiting."""
    school = web_system.create_school()
    tag = uuid.uuid4().hex[:8]
    email = f"waiting-{tag}@browser-tests.example"
    kid = student(f"S-{tag}", "Wren", "Waits", "2015-03-02")
    del kid["data"]["date_of_birth"]
    web_system.push(school, [kid, guardian(f"G-{tag}", email, {f"S-{tag}": True})])
    token = web_system.activate(email, PASSWORD)
    web_system.links(token)
    page.goto(web_system.url("/children"))
    _sign_in(page, email)
    child = page.get_by_role("region", name="Wren Waits")
    expect(child).to_contain_text("Waiting for the school to send a date of birth")
    expect(child).to_contain_text("the school has not sent Wren Waits's yet")
    expect(child.get_by_role("group", name="Date of birth")).to_have_count(0)
    screenshot(page, "waiting-for-date-of-birth")
    assert_accessible(page, name="axe-waiting-for-date-of-birth")
    no_script_errors(page)

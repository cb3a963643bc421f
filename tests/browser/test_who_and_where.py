"""Issue 24, "every message says who and where": a parent with children at two schools sees
which child is at which school on every screen, files a request at either, reads each
school's office contact wherever the app says "contact the school" (a locked link, a request
waiting, the footer), and every mail names the child and the school. Chromium, axe,
screenshots on a desktop and a phone."""
import email
import email.policy
import uuid

from playwright.sync_api import expect

from shared.demo import token_of
from tests.browser.conftest import PHONE
from tests.browser.support import (assert_accessible, family_events, fill_date, main_nav,
                                   no_script_errors, page_heading, screenshot)
from tests.support import wait_for

PASSWORD = "a-parent-password-1"


def _mails(web_system, address: str) -> list:
    out = []
    for path in web_system.mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address.lower() in str(message["To"]).lower():
            out.append(message)
    return out


def _subjects(web_system, address: str) -> set[str]:
    return {str(m["Subject"]).strip() for m in _mails(web_system, address)}


def _school(web_system, name: str, office_email: str, office_phone: str):
    school = web_system.create_school(name)
    answer = web_system.call("patch", f"/api/v1/schools/{school.id}",
                             web_system.operator_token(),
                             json={"office_email": office_email, "office_phone": office_phone})
    assert answer.status_code == 200, answer.text
    return school


def _two_schools(web_system):
    """Northfield has Avery; Southgate has Robin and Blake; one parent (one email) at both."""
    tag = uuid.uuid4().hex[:6]
    north = _school(web_system, f"Northfield Academy {tag}", "office@northfield.example",
                    "01632 960 111")
    south = _school(web_system, f"Southgate Primary {tag}", "office@southgate.example",
                    "01632 960 222")
    at_north = family_events(children=1)
    at_south = family_events(children=2)
    for event in at_south.events:
        if event["type"] == "student.upserted" and event["data"]["given_name"] == "Avery":
            event["data"]["given_name"] = "Robin"
        if event["type"] == "guardian.upserted":
            event["data"]["email"] = at_north.parent_email
    at_south.children[0].name = "Robin Testchild"
    web_system.push(north, at_north.events)
    first = web_system.invitation_link(at_north.parent_email)
    web_system.activate(at_north.parent_email, PASSWORD)
    web_system.push(south, at_south.events)
    second = wait_for(lambda: (link := web_system.invitation_link(at_north.parent_email))
                      != first and link, timeout=60, message="the second school's invitation")
    accepted = web_system.call("post", "/api/v1/auth/activate",
                               json={"token": token_of(second), "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    return north, south, at_north, at_south


def _sign_in(page, address):
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_a_parent_at_two_schools_sees_who_and_where_everywhere(web_system, open_page):
    north, south, at_north, at_south = _two_schools(web_system)
    parent = at_north.parent_email
    (avery,), (robin, blake) = at_north.children, at_south.children
    subjects = _subjects(web_system, parent)
    assert any(s.startswith("Your Pupil Progress invitation from Northfield Academy")
               for s in subjects), subjects
    page = open_page(name="desktop")
    page.goto(web_system.url("/children"))
    _sign_in(page, parent)
    expect(page_heading(page)).to_have_text("Your children")
    expect(page.get_by_role("region", name=avery.name)).to_contain_text("At Northfield Academy")
    expect(page.get_by_role("region", name=robin.name)).to_contain_text("At Southgate Primary")
    footer = page.get_by_role("contentinfo")
    expect(footer).to_contain_text("office@northfield.example")
    expect(footer).to_contain_text("01632 960 222")
    screenshot(page, "children-two-schools")
    assert_accessible(page, name="axe-children-two-schools")

    for child in (avery, robin):
        region = page.get_by_role("region", name=child.name)
        fill_date(region, child.date_of_birth)
        region.get_by_role("button", name="Confirm").click()
        expect(region.get_by_text("Confirmed")).to_be_visible()
    locked = page.get_by_role("region", name=blake.name)
    for left in ("2 attempts left", "1 attempt left"):
        fill_date(locked, "2011-11-11")
        locked.get_by_role("button", name="Confirm").click()
        expect(locked.get_by_text(left)).to_be_visible()
    fill_date(locked, "2011-11-11")
    locked.get_by_role("button", name="Confirm").click()
    expect(locked.get_by_text("Locked", exact=True)).to_be_visible()
    expect(locked).to_contain_text("please contact Southgate Primary")
    expect(locked.get_by_role("link", name="office@southgate.example")).to_be_visible()
    screenshot(page, "locked-with-contact")
    assert_accessible(page, name="axe-locked-with-contact")

    # Mails name the child and the school: the report mails, the admins' locked-link mail.
    web_system.publish(north, at_north.period, expect=1, title="Autumn report")
    web_system.publish(south, at_south.period, expect=2, title="Autumn report")
    wanted = {f"A new report for {avery.name} at Northfield Academy",
              f"A new report for {robin.name} at Southgate Primary"}
    wait_for(lambda: wanted <= {s.rsplit(" ", 1)[0] for s in _subjects(web_system, parent)},
             timeout=60, message="both report mails")
    locked_mail = wait_for(lambda: [m for m in _mails(web_system, south.admin_email)
                                    if "was locked" in str(m["Subject"])], timeout=60,
                           message="the locked-link mail")[0]
    assert str(locked_mail["Subject"]).strip().startswith(
        f"A parent's link to {blake.name} at Southgate Primary")
    body = locked_mail.get_body(("plain",)).get_content()
    assert "/links/" in body and "/admin/links" not in body

    main_nav(page, "Reports").click()
    switcher = page.get_by_role("navigation", name="Choose a child")
    switcher.get_by_role("link", name=f"{robin.name} (Southgate Primary", exact=False).click()
    expect(page_heading(page)).to_have_text(f"Reports for {robin.name}")
    expect(page.get_by_text(f"{robin.name} at Southgate Primary")).to_be_visible()
    page.get_by_role("link", name="Autumn report", exact=True).click()
    expect(page_heading(page)).to_have_text("Autumn report")
    expect(page.get_by_text(f"{robin.name} at Southgate Primary", exact=False)).to_be_visible()
    screenshot(page, "report-names-school")
    assert_accessible(page, name="axe-report-names-school")

    main_nav(page, "Requests").click()
    expect(page_heading(page)).to_have_text("Your requests")
    which = page.get_by_label("Which school should answer")
    which.select_option(label=next(o for o in which.locator("option").all_inner_texts()
                                   if o.startswith("Southgate")))
    page.get_by_role("button", name="Ask for my data", exact=True).click()
    mine = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="A copy of your data"))
    expect(mine).to_contain_text("Southgate Primary")
    about = page.get_by_role("region", name=f"About {robin.name}")
    expect(about).to_contain_text("At Southgate Primary")
    about.get_by_role("button", name=f"Ask for {robin.name}'s data", exact=True).click()
    filed = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name=f"A copy of {robin.name}'s data"))
    expect(filed).to_contain_text("Waiting for the school")
    expect(filed).to_contain_text("Southgate Primary")
    screenshot(page, "requests-two-schools")
    assert_accessible(page, name="axe-requests-two-schools")
    filed.get_by_role("link").click()
    expect(page.get_by_text("Southgate Primary", exact=False).first).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("has your request and decides on it")
    expect(page.get_by_role("main").get_by_role("link",
                                                name="office@southgate.example")).to_be_visible()
    screenshot(page, "request-waiting-contact")
    assert_accessible(page, name="axe-request-waiting-contact")
    no_script_errors(page)

    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/children"))
    _sign_in(phone, parent)
    expect(phone.get_by_role("region", name=robin.name)).to_contain_text("At Southgate Primary")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "children-phone")
    assert_accessible(phone, name="axe-children-phone")


def test_the_operator_sets_the_school_offices_contact(web_system, page):
    school = web_system.create_school()
    page.goto(web_system.url(f"/schools/{school.id}"))
    web_system.staff_signs_in(page, *web_system.operator)
    settings = page.get_by_role("region", name="Settings")
    settings.get_by_label("Office phone").fill("call us")
    settings.get_by_role("button", name="Save the settings").click()
    expect(settings.get_by_text("Give a phone number")).to_be_visible()
    settings.get_by_label("Office email").fill("office@school.example")
    settings.get_by_label("Office phone").fill("01632 960 333")
    settings.get_by_role("button", name="Save the settings").click()
    expect(page.get_by_role("status")).to_contain_text("office@school.example, 01632 960 333")
    screenshot(page, "office-contact")
    assert_accessible(page, name="axe-office-contact")
    shown = web_system.call("get", f"/api/v1/schools/{school.id}",
                            web_system.operator_token()).json()
    assert (shown["office_email"], shown["office_phone"]) == ("office@school.example",
                                                              "01632 960 333")


def test_a_paused_childs_reports_say_how_to_reach_the_school_office(web_system, open_page):
    """The school restricted the use of a child's data: the parent's reports screen and the
    report itself say who to ask, with the office's email and phone, not "the school"."""
    called = f"Paused Academy {uuid.uuid4().hex[:6]}"
    school = _school(web_system, called, "office@paused.example", "01632 960 444")
    family = family_events(children=1)
    (kid,) = family.children
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=1)
    token = web_system.activate(family.parent_email, PASSWORD)
    (link,) = web_system.links(token)
    wait_for(lambda: web_system.call(
        "post", f"/api/v1/links/{link['id']}/verify", token,
        json={"date_of_birth": kid.date_of_birth}).status_code == 200,
        timeout=60, interval=0.2, message="the link verified")
    student = link["student"]["id"]
    (report,) = web_system.reports_of(token, student)
    filed = web_system.call("post", "/api/v1/subject-requests", school.admin_token, json={
        "kind": "restriction", "subject": {"type": "student", "id": student}, "details": {}})
    assert filed.status_code == 201, filed.text
    wait_for(lambda: web_system.call(
        "get", f"/api/v1/students/{student}/reports", token).status_code == 423,
        timeout=60, interval=0.2, message="the child's reports paused")

    for name, viewport in (("desktop", None), ("phone", PHONE)):
        page = open_page(name=name, **({"viewport": viewport} if viewport else {}))
        page.goto(web_system.url(f"/reports?student={student}"))
        page.get_by_label("Email").fill(family.parent_email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        main = page.get_by_role("main")
        expect(main).to_contain_text("The school has paused the use of this information")
        expect(main).to_contain_text(f"please contact {called}")
        expect(main.get_by_role("link", name="office@paused.example")).to_have_attribute(
            "href", "mailto:office@paused.example")
        expect(main.get_by_role("link", name="01632 960 444")).to_be_visible()
        screenshot(page, f"paused-reports-{name}")
        assert_accessible(page, name=f"axe-paused-reports-{name}")

        page.goto(web_system.url(f"/reports/{report['id']}"))
        expect(page_heading(page)).to_have_text("Report not available")
        expect(main.get_by_role("link", name="office@paused.example")).to_be_visible()
        screenshot(page, f"paused-report-{name}")
        assert_accessible(page, name=f"axe-paused-report-{name}")
        no_script_errors(page)

"""Issue 24, "staff see people, not ids": a school admin sees the requester's and the
subject's names and their relationship on requests, names in the audit trail for accounts of
the school, the contact's name and relationship on links, and the source id of each rejected
event of a batch. dsar keeps ids only: the console asks identity and linking, each of which
answers only for the admin's own school (another school's admin sees none of these names).
Chromium, axe, screenshots on a desktop and a phone."""
import re
import uuid
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (ADMIN_PASSWORD, assert_accessible, family_events,
                                   main_nav, no_script_errors, page_heading, screenshot)
from tests.support import wait_for

PASSWORD = "a-parent-password-1"


def _family_with_a_mother(web_system, school):
    """A pushed family whose contact the school records as the child's mother, the
    parent verified; (family, the parent's token, the child's student id)."""
    family = family_events(children=1)
    for event in family.events:
        if event["type"] == "guardian.upserted":
            event["data"].update(given_name="Morgan", family_name="Mothersole")
            event["data"]["students"][0]["relationship"] = "Mother"
    web_system.push(school, family.events)
    token = web_system.activate(family.parent_email, PASSWORD)
    (link,) = web_system.links(token)
    wait_for(lambda: web_system.call("post", f"/api/v1/links/{link['id']}/verify", token,
                                     json={"date_of_birth": family.children[0].date_of_birth}
                                     ).status_code == 200,
             timeout=60, interval=0.2, message="the link verified")
    return family, token, link["student"]["id"]


def _second_admin(web_system, school, name):
    email = f"second-{uuid.uuid4().hex[:6]}@browser-tests.example"
    invited = web_system.call("post", f"/api/v1/schools/{school.id}/staff",
                              school.admin_token, json={"name": name, "email": email,
                                                        "role": "school_admin"})
    assert invited.status_code == 201, invited.text
    return web_system.activate(email, ADMIN_PASSWORD)


def test_an_admin_sees_who_filed_whom_it_is_about_and_who_acted_by_name(web_system,
                                                                        open_page):
    school = web_system.create_school()
    family, parent_token, child_id = _family_with_a_mother(web_system, school)
    child = family.children[0].name
    child_subject = wait_for(lambda: next((s for s in web_system.call(
        "get", "/api/v1/subject-requests/subjects", parent_token).json()["items"]
        if s["id"] == child_id), None), timeout=60, interval=0.2,
        message="dsar knows the parent's verified child")
    filed = web_system.call("post", "/api/v1/subject-requests", parent_token, json={
        "kind": "access", "subject": {"type": "student", "id": child_subject["id"]}})
    assert filed.status_code == 201, filed.text
    request_id = filed.json()["id"]
    # Another admin of the school extends it: the audit trail names them.
    second = _second_admin(web_system, school, "Sam Secondadmin")
    extended = web_system.call("post", f"/api/v1/subject-requests/{request_id}/extend", second,
                               json={"months": 1, "reason": "Many records to check."})
    assert extended.status_code == 200, extended.text

    page = open_page(name="desktop")
    page.goto(web_system.url("/"))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(page)).to_have_text("Subject requests")
    row = page.get_by_role("listitem").filter(has=page.get_by_role(
        "link", name="Access to data request"))
    expect(row).to_contain_text(f"about {child} (a student), from Morgan Mothersole "
                                "(a parent)")
    screenshot(page, "requests-with-names")
    assert_accessible(page, name="axe-requests-with-names")

    row.get_by_role("link", name="Access to data request").click()
    expect(page_heading(page)).to_have_text("Access to data request")
    main = page.get_by_role("main")
    facts = {"About": f"{child} (a student)", "Filed by": "Morgan Mothersole (a parent)",
             "Relationship": f"Morgan Mothersole is {child}'s mother"}
    for term, value in facts.items():
        expect(main.locator("dt", has_text=re.compile(f"^{term}$")).locator(
            "xpath=following-sibling::dd[1]")).to_have_text(value)
    trail = page.get_by_role("table", name="Every step of this request, in order")
    expect(trail.get_by_role("row", name=re.compile("^.*Received"))).to_contain_text(
        "Morgan Mothersole (parent)")
    expect(trail.get_by_role("row", name=re.compile("Deadline extended"))).to_contain_text(
        "Sam Secondadmin (school staff)")
    expect(trail).not_to_contain_text("Account ")  # no bare account ids
    screenshot(page, "request-with-names")
    assert_accessible(page, name="axe-request-with-names")

    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("The request is approved")
    expect(trail.get_by_role("row", name=re.compile("Approved"))).to_contain_text("You")

    # The same screens on a phone: the names fit and nothing scrolls sideways.
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url(f"/requests/{request_id}"))
    web_system.staff_signs_in(phone, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(phone)).to_have_text("Access to data request")
    expect(phone.get_by_role("main")).to_contain_text(f"Morgan Mothersole is {child}'s mother")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(phone, "request-with-names-phone")

    # Another school's admin: the request is not theirs, and no name of A's reaches them.
    other = web_system.create_school()
    stranger = open_page(name="other-school")
    stranger.goto(web_system.url(f"/requests/{request_id}"))
    web_system.staff_signs_in(stranger, other.admin_email, ADMIN_PASSWORD)
    expect(page_heading(stranger)).to_have_text("Request not available")
    expect(stranger.get_by_role("main")).not_to_contain_text("Mothersole")
    answer = web_system.call("get", f"/api/v1/schools/{school.id}/people", other.admin_token,
                             params={"student_id": child_id})
    assert answer.status_code == 404, answer.text
    no_script_errors(page)


def test_an_admin_sees_each_contacts_name_and_each_rejected_events_source_id(web_system,
                                                                           open_page):
    school = web_system.create_school()
    family, _token, _child_id = _family_with_a_mother(web_system, school)
    child = family.children[0].name
    batch_id = f"with-mistakes-{uuid.uuid4().hex[:6]}"
    bad = web_system.call("post", "/api/v1/school-data/batches", school.system_token, json={
        "batch_id": batch_id, "events": [
            {"type": "student.upserted", "source_id": "UPN-A123", "data": {
                "given_name": "Nobody", "family_name": "Wrong", "date_of_birth": "2015-02-30",
                "form_group": "7A", "year_group": 7}},
            {"type": "staff.upserted", "source_id": "T-77", "data": {"title": "Dr"}}]})
    assert bad.status_code == 202 and len(bad.json()["rejected"]) == 2, bad.text

    page = open_page(viewport=PHONE, name="phone")
    page.goto(web_system.url(f"/school-data/batches/{batch_id}"))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(page)).to_have_text(re.compile("^Batch received"))
    rejected = page.get_by_role("table", name="Rejected events and why")
    expect(rejected.get_by_role("columnheader", name="School's id of the record")
           ).to_be_visible()
    expect(rejected.get_by_role("row", name=re.compile(r"^0 "))).to_contain_text("UPN-A123")
    expect(rejected.get_by_role("row", name=re.compile(r"^0 "))).to_contain_text(
        "date_of_birth")
    expect(rejected.get_by_role("row", name=re.compile(r"^1 "))).to_contain_text("T-77")
    expect(page.get_by_role("main")).not_to_contain_text("Nobody")  # no value kept
    screenshot(page, "batch-with-source-ids-phone")
    assert_accessible(page, name="axe-batch-with-source-ids")

    main_nav(page, "Links").click()
    expect(page_heading(page)).to_have_text("Links between parents and children")
    page.get_by_role("link", name=child).click()
    expect(page_heading(page)).to_have_text(f"Links for {child}")
    contact = page.get_by_role("region", name="Morgan Mothersole (Mother)")
    expect(contact).to_contain_text("Confirmed")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(page, "links-with-names-phone")
    assert_accessible(page, name="axe-links-with-names")

    desktop = open_page(name="desktop")
    desktop.goto(web_system.url(urlsplit(page.url).path))
    web_system.staff_signs_in(desktop, school.admin_email, ADMIN_PASSWORD)
    expect(desktop.get_by_role("region", name="Morgan Mothersole (Mother)")).to_be_visible()
    screenshot(desktop, "links-with-names")
    no_script_errors(page)

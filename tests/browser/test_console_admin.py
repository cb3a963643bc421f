"""The school admin's console in Debian's headless chromium (issue 15): an admin publishes a
period's reports (one under embargo) and a parent then sees the visible one; an admin approves
a parent's erasure request and watches every part of the system complete it; the pushed
batches with a rejection, links by student, a phone screen; axe-core on every admin screen,
screenshots as artefacts.

The accessible names used here are the contract in web/README.md."""
import datetime as dt
import re
import uuid
import zipfile

from playwright.sync_api import expect

from shared.config import RIGHTS_PARTICIPANTS
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.support import (
    ADMIN_PASSWORD, assert_accessible, family_events, main_nav, no_script_errors, page_heading,
    screenshot)
from tests.support import wait_for

PASSWORD = "a-parent-password-1"
SERVICE_TEXT = {"identity": "Accounts and sign-in", "ingest": "Data received from the school",
                "linking": "Parent and child links", "reports": "Reports",
                "notifications": "Emails", "dsar": "Requests about personal data"}
# Reading stays enough time for a slow shared machine: a whole erasure crosses six services.
SLOW = 90_000


def _sign_in(page, email, password):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _admin_signs_in(web_system, page, school, path="/"):
    page.goto(web_system.url(path))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)


def _verified_parent(web_system, family) -> str:
    """The family's parent, activated and with every child confirmed, through the API."""
    token = web_system.activate(family.parent_email, PASSWORD)
    links = web_system.links(token, count=len(family.children))
    births = {kid.name: kid.date_of_birth for kid in family.children}
    for link in links:
        wait_for(lambda: web_system.call(
            "post", f"/api/v1/links/{link['id']}/verify", token,
            json={"date_of_birth": births[link["student"]["name"]]}).status_code == 200,
            timeout=60, interval=0.2, message="the link verified")
    return token


def _periods_ready(web_system, school, students):
    def ready():
        items = web_system.call("get", "/api/v1/reports/periods", school.admin_token
                                ).json()["items"]
        return items if items and items[0]["students"] >= students else None
    return wait_for(ready, timeout=60, interval=0.2, message="reports has the period's data")


def test_an_admin_publishes_reports_and_a_parent_then_sees_them(web_system, open_page):
    school = web_system.create_school()
    family = family_events(children=1)
    (kid,) = family.children
    web_system.push(school, family.events)
    parent_token = _verified_parent(web_system, family)
    _periods_ready(web_system, school, 1)

    admin = open_page(name="admin")
    _admin_signs_in(web_system, admin, school)
    expect(page_heading(admin)).to_have_text("Subject requests")  # the console's first screen
    expect(main_nav(admin, "Requests")).to_have_attribute("aria-current", "page")
    main_nav(admin, "Reports").click()
    expect(page_heading(admin)).to_have_text("Reports")
    expect(admin.get_by_label("Period", exact=True)).to_have_value(family.period)
    screenshot(admin, "reports-empty")
    assert_accessible(admin, name="axe-admin-reports-empty")

    admin.get_by_label("Title", exact=True).fill("Autumn progress report")
    admin.get_by_role("button", name="Publish").click()
    # Publishing asks to confirm, saying whom it tells (issue 24).
    expect(admin.get_by_role("heading", name="Check before publishing")).to_be_focused()
    expect(admin.get_by_text("1 parent with a confirmed link will be emailed now")
           ).to_be_visible()
    admin.get_by_role("button", name="Yes, publish 1 report").click()
    expect(admin.get_by_role("status")).to_contain_text(
        f"Published 1 report for {family.period}")
    published = admin.get_by_role("table", name="Reports, newest first")
    expect(published.get_by_role("row", name=re.compile("Autumn progress report"))
           ).to_contain_text("Visible since")

    # A second publication under embargo: listed for the school, not shown to parents.
    later = (dt.datetime.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    admin.get_by_label("Title", exact=True).fill("Embargoed report")
    admin.get_by_label("Visible to parents from (optional)").fill(later)
    admin.get_by_role("button", name="Publish").click()
    expect(admin.get_by_text("will be emailed when the reports become visible on")
           ).to_be_visible()
    admin.get_by_role("button", name="Yes, publish 1 report").click()
    expect(admin.get_by_role("status")).to_contain_text("Parents see them from")
    expect(published.get_by_role("row", name=re.compile("Embargoed report"))
           ).to_contain_text("Embargoed until")
    screenshot(admin, "reports-published")
    assert_accessible(admin, name="axe-admin-reports")

    preview = published.get_by_role("row", name=re.compile("Autumn progress report"))
    preview.get_by_role("link", name=f"Preview the report for {kid.name}").click()
    expect(page_heading(admin)).to_have_text("Autumn progress report")
    expect(admin.get_by_text("This is what parents and the student see")).to_be_visible()
    expect(admin.get_by_role("table", name="Grades against targets, by subject")
           ).to_be_visible()
    expect(admin.get_by_role("region", name="Maths (7A Maths)")).to_contain_text(
        "Ms Tess Teacherly")
    screenshot(admin, "report-preview")
    assert_accessible(admin, name="axe-admin-report-preview")
    no_script_errors(admin)

    # The parent, in a browser of their own: the visible report, not the embargoed one.
    web_system.reports_of(parent_token, web_system.links(parent_token)[0]["student"]["id"])
    parent = open_page(name="parent")
    parent.goto(web_system.url("/children"))
    _sign_in(parent, family.parent_email, PASSWORD)
    parent.get_by_role("link", name=f"Reports for {kid.name}").click()
    expect(page_heading(parent)).to_have_text(f"Reports for {kid.name}")
    expect(parent.get_by_role("link", name="Autumn progress report", exact=True)
           ).to_be_visible()
    expect(parent.get_by_role("link", name="Embargoed report")).to_have_count(0)
    parent.get_by_role("link", name="Autumn progress report", exact=True).click()
    expect(page_heading(parent)).to_have_text("Autumn progress report")
    screenshot(parent, "parent-sees-the-report")
    no_script_errors(parent)


def test_an_admin_approves_an_erasure_request_and_watches_every_service_complete(
        web_system, page):
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    parent_token = _verified_parent(web_system, family)
    yourself = wait_for(lambda: next((s for s in web_system.call(
        "get", "/api/v1/subject-requests/subjects", parent_token).json()["items"]
        if s["yourself"]), None), timeout=60, interval=0.2, message="the parent's own record")
    filed = web_system.call("post", "/api/v1/subject-requests", parent_token, json={
        "kind": "erasure", "subject": {"type": yourself["type"], "id": yourself["id"]},
        "details": {"note": "Please remove my account."}})
    assert filed.status_code == 201 and filed.json()["status"] == "awaiting_school", filed.text

    _admin_signs_in(web_system, page, school)
    expect(page_heading(page)).to_have_text("Subject requests")
    row = page.get_by_role("listitem").filter(has=page.get_by_role("link",
                                                                   name="Erasure request"))
    expect(row).to_contain_text("Waiting for your decision")
    expect(row).to_contain_text("from Pat Example (a parent)")  # names (issue 24)
    screenshot(page, "requests")
    assert_accessible(page, name="axe-admin-requests")

    row.get_by_role("link", name="Erasure request").click()
    expect(page_heading(page)).to_have_text("Erasure request")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Waiting for your decision")
    expect(main).to_contain_text("Please remove my account.")
    expect(main).to_contain_text(re.compile(r"\d+ days? left"))
    trail = page.get_by_role("table", name="Every step of this request, in order")
    expect(trail.get_by_role("row", name=re.compile("Received"))).to_have_count(1)
    screenshot(page, "request-awaiting")
    assert_accessible(page, name="axe-admin-request-awaiting")

    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("The request is approved")
    progress = page.get_by_role("list", name="Progress in each part of the system")
    for service in RIGHTS_PARTICIPANTS:  # every part answers; the screen follows it
        expect(progress.get_by_role("listitem").filter(has_text=SERVICE_TEXT[service])
               ).to_have_text(f"{SERVICE_TEXT[service]}: Done", timeout=SLOW)
    expect(progress.get_by_role("listitem")).to_have_count(len(RIGHTS_PARTICIPANTS))
    expect(page.get_by_role("status")).to_contain_text("The request is complete",
                                                       timeout=SLOW)
    expect(main.get_by_role("definition").first).to_have_text("Done")
    expect(trail.get_by_role("row", name=re.compile("Approved"))).to_contain_text("You")
    expect(trail.get_by_role("row", name=re.compile("Completed"))).to_have_count(1)
    screenshot(page, "request-completed")
    assert_accessible(page, name="axe-admin-request-completed")

    # The school's proof (issue 30): the signed receipt downloads and verifies offline.
    receipt_button = page.get_by_role("button", name="Download the receipt")
    expect(receipt_button).to_be_visible(timeout=SLOW)
    with page.expect_download() as download:
        receipt_button.click()
    assert download.value.suggested_filename.endswith(".jws")
    with open(download.value.path(), encoding="utf-8") as file:
        receipt = file.read()
    verified = web_system.verify_receipt(receipt)
    assert verified.request["kind"] == "erasure"
    assert set(verified.answers) == set(RIGHTS_PARTICIPANTS)
    expect(page.get_by_role("status")).to_contain_text("The receipt is downloaded")
    screenshot(page, "request-receipt")
    page.reload()  # the download is itself a step of the audit trail
    expect(trail.get_by_role("row", name=re.compile("Receipt downloaded"))).to_have_count(
        1, timeout=SLOW)
    page.set_viewport_size(PHONE)  # the same screen on a phone
    expect(receipt_button).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the completed request is {overflow}px wider than the phone"
    screenshot(page, "phone-request-receipt")
    assert_accessible(page, name="axe-phone-request-receipt")
    page.set_viewport_size(DESKTOP)

    main_nav(page, "Requests").click()
    expect(page.get_by_role("link", name="Erasure request")).to_have_count(0)  # not open
    page.get_by_role("navigation", name="Which requests").get_by_role(
        "link", name="All").click()
    expect(page.get_by_role("listitem").filter(has=page.get_by_role(
        "link", name="Erasure request"))).to_contain_text("Done")

    # Someone asked the school directly: the admin files it by the school's own id.
    filing = page.get_by_role("region", name="File a request for someone")
    filing.get_by_label("Kind of request").select_option("access")
    filing.get_by_label("About").select_option("student")
    filing.get_by_label("The school's id for this person").fill(family.children[0].source_id)
    filing.get_by_role("button", name="File the request").click()
    expect(page.get_by_role("status")).to_contain_text("The request is filed")
    expect(page.get_by_role("listitem").filter(has=page.get_by_role(
        "link", name="Access to data request"))).to_contain_text(
        "from Alex Admin (for the school)")
    assert_accessible(page, name="axe-admin-requests-all")

    # Once every part has answered, the copy downloads (through the API, under the CSP).
    page.get_by_role("link", name="Access to data request").click()
    expect(page_heading(page)).to_have_text("Access to data request")
    expect(page.get_by_role("main")).to_contain_text(f"{family.children[0].name} (a student)",
                                                     timeout=SLOW)
    download_button = page.get_by_role("button", name="Download the export")
    expect(download_button).to_be_visible(timeout=SLOW)
    with page.expect_download() as download:
        download_button.click()
    assert download.value.suggested_filename.endswith(".zip")
    with open(download.value.path(), "rb") as file:
        assert file.read(2) == b"PK"  # a zip
    expect(page.get_by_role("status")).to_contain_text("The export is downloaded")
    screenshot(page, "request-export")

    # The student is erased: the export names her, so it is withdrawn (issue 21).
    access_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    erasure = web_system.call("post", "/api/v1/subject-requests", school.admin_token, json={
        "kind": "erasure", "subject": {"type": "student",
                                       "source_id": family.children[0].source_id}})
    assert erasure.status_code == 201, erasure.text
    wait_for(lambda: web_system.call("get", f"/api/v1/subject-requests/{erasure.json()['id']}",
                                     school.admin_token).json()["status"] == "completed",
             timeout=60, interval=0.2, message="the student's erasure completed")
    page.reload()
    expect(page_heading(page)).to_have_text("Access to data request")
    expect(trail.get_by_role("row", name=re.compile("Export withdrawn"))).to_have_count(1)
    expect(page.get_by_role("button", name="Download the export")).to_have_count(0)
    screenshot(page, "request-export-withdrawn")
    assert access_id in page.url
    no_script_errors(page)


def test_the_admin_sees_batches_with_their_rejections_and_links_by_student(web_system,
                                                                          open_page):
    school = web_system.create_school()
    family = family_events(children=1)
    (kid,) = family.children
    web_system.push(school, family.events)
    _verified_parent(web_system, family)
    batch_id = f"with-a-mistake-{uuid.uuid4().hex[:6]}"
    bad = web_system.call("post", "/api/v1/school-data/batches", school.system_token, json={
        "batch_id": batch_id, "events": [
            family.events[0],
            {"type": "student.upserted", "source_id": "S-bad", "data": {
                "given_name": "Nobody", "family_name": "Wrong", "date_of_birth": "2015-02-30",
                "form_group": "7A", "year_group": 7}}]})
    assert bad.status_code == 202 and len(bad.json()["rejected"]) == 1, bad.text

    page = open_page(viewport=PHONE, name="phone")
    _admin_signs_in(web_system, page, school, "/school-data")
    expect(page_heading(page)).to_have_text("School data")
    batches = page.get_by_role("table", name="Batches, newest first")
    expect(batches.get_by_role("row")).to_have_count(3)  # the heading row and two batches
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(page, "school-data-phone")
    assert_accessible(page, name="axe-admin-school-data")

    upload = page.get_by_role("region", name="Upload a OneRoster bundle")
    upload.get_by_label("OneRoster bundle (zip)").set_input_files(files=[{
        "name": "bundle.zip", "mimeType": "application/zip", "buffer": b"not a zip at all"}])
    upload.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("not applied")
    expect(upload.get_by_role("table", name="Problems in the bundle, by file and line")
           ).to_be_visible()
    expect(batches.get_by_role("row")).to_have_count(3)  # nothing applied, nothing listed

    batches.get_by_role("link", name=re.compile(re.escape(batch_id))).click()
    expect(page_heading(page)).to_have_text(re.compile("^Batch received"))
    rejected = page.get_by_role("table", name="Rejected events and why")
    expect(rejected.get_by_role("row", name=re.compile(r"^1 "))).to_contain_text(
        "date_of_birth")
    expect(page.get_by_role("main")).not_to_contain_text("Nobody")  # no value kept
    screenshot(page, "batch-phone")
    assert_accessible(page, name="axe-admin-batch")

    main_nav(page, "Links").click()
    expect(page_heading(page)).to_have_text("Links between parents and children")
    page.get_by_label("Student's name").fill(kid.name.split()[0].lower())
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", level=2, name=re.compile("Students matching"))
           ).to_be_visible()
    expect(page.get_by_role("listitem").filter(has=page.get_by_role("link", name=kid.name))
           ).to_contain_text("1 confirmed")
    assert_accessible(page, name="axe-admin-links")
    page.get_by_role("link", name=kid.name).click()
    expect(page_heading(page)).to_have_text(f"Links for {kid.name}")
    contact = page.get_by_role("region", name="Pat Example (Parent)")
    expect(contact).to_contain_text("Confirmed")
    expect(contact).to_contain_text("Activated")
    screenshot(page, "student-links-phone")
    assert_accessible(page, name="axe-admin-student-links")

    contact.get_by_role("button", name="Revoke").click()
    contact.get_by_role("button", name="Yes, revoke the link").click()
    expect(page.get_by_role("status")).to_contain_text("The link is revoked")
    expect(contact).to_contain_text("Revoked")
    expect(contact.get_by_role("button", name="Revoke")).to_have_count(0)
    no_script_errors(page)


def test_the_school_releases_a_parents_copy_and_the_parent_downloads_it_in_the_app(
        web_system, open_page):
    """Issue 24: the school decides whether to hand the copy over itself or release it to
    the parent who asked; released, the parent downloads it in the app, with the summary
    a person reads (your-data.html) inside."""
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    parent_token = _verified_parent(web_system, family)
    yourself = wait_for(lambda: next((s for s in web_system.call(
        "get", "/api/v1/subject-requests/subjects", parent_token).json()["items"]
        if s["yourself"]), None), timeout=60, interval=0.2, message="the parent's own record")
    filed = web_system.call("post", "/api/v1/subject-requests", parent_token, json={
        "kind": "access", "subject": {"type": yourself["type"], "id": yourself["id"]}})
    assert filed.status_code == 201, filed.text
    request_id = filed.json()["id"]
    approved = web_system.call("post", f"/api/v1/subject-requests/{request_id}/approve",
                               school.admin_token)
    assert approved.status_code == 200, approved.text
    wait_for(lambda: web_system.call("get", f"/api/v1/subject-requests/{request_id}",
                                     school.admin_token).json()["status"] == "completed",
             timeout=90, interval=0.3, message="the access request completed")

    # Not released yet: the parent is told the school decides, and has nothing to download.
    parent = open_page(name="parent")
    parent.goto(web_system.url(f"/requests/{request_id}"))
    _sign_in(parent, family.parent_email, PASSWORD)
    expect(page_heading(parent)).to_have_text(re.compile("copy of", re.I))
    expect(parent.get_by_role("main")).to_contain_text("will give you the copy of your data")
    expect(parent.get_by_role("button", name="Download your copy")).to_have_count(0)

    admin = open_page(name="admin")
    _admin_signs_in(web_system, admin, school, f"/requests/{request_id}")
    release = admin.get_by_role("button", name="Release to the person who asked")
    expect(release).to_be_visible(timeout=SLOW)
    expect(admin.get_by_role("button", name="Download the export")).to_be_visible()
    screenshot(admin, "request-export-to-release")
    assert_accessible(admin, name="axe-admin-request-export-to-release")
    release.click()
    expect(admin.get_by_role("status")).to_contain_text("The copy is released")
    expect(admin.get_by_role("main")).to_contain_text("Released to the person who asked")
    expect(release).to_have_count(0)
    trail = admin.get_by_role("table", name="Every step of this request, in order")
    expect(trail.get_by_role("row", name=re.compile("Export released"))).to_contain_text("You")
    screenshot(admin, "request-export-released")
    no_script_errors(admin)

    parent.reload()
    download_button = parent.get_by_role("button", name="Download your copy")
    expect(download_button).to_be_visible(timeout=SLOW)
    expect(parent.get_by_role("main")).to_contain_text("your-data.html")
    screenshot(parent, "parent-copy-released")
    assert_accessible(parent, name="axe-parent-copy-released")
    with parent.expect_download() as download:
        download_button.click()
    expect(parent.get_by_role("status")).to_contain_text("Your copy is downloaded")
    with zipfile.ZipFile(download.value.path()) as archive:
        page_text = archive.read("your-data.html").decode()
    assert "Your account" in page_text and family.parent_email in page_text
    parent.set_viewport_size(PHONE)
    expect(download_button).to_be_visible()
    overflow = parent.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the request is {overflow}px wider than the phone"
    screenshot(parent, "phone-parent-copy-released")
    no_script_errors(parent)

"""OneRoster in the school admin's console (issue 23), in Debian's headless chromium: the
admin sets the school's OneRoster settings, a bundle with a fault is refused with that
fault alone by file and line, a good one becomes a job whose progress the console follows
until it is applied (and shows again after a reload, on a phone too); a pupil the export
gives no year group or no date of birth is shown as such to the school and to the parent.
axe-core on each screen, screenshots as artefacts. The accessible names are the contract in
web/README.md."""
import re
import uuid

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (
    ADMIN_PASSWORD, assert_accessible, fill_date, main_nav, no_script_errors, page_heading,
    screenshot)
from tests.oneroster_sample import SampleSchool, zip_bundle
from tests.support import wait_for

PASSWORD = "a-parent-password-1"
UPLOAD = "/api/v1/school-data/oneroster"
# How a big bundle's job answers half-way (the embedded system's SQLite applies a job in
# one write, so it shows only `queued` then `applied`; PostgreSQL's progress is tested in
# tests/integration/test_oneroster_jobs_real.py).
HALF_WAY = {"stage": "applying", "done": 120, "total": 300, "percent": 49}


def _sign_in(page, email, password):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _bundle_file(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_an_admin_sets_oneroster_settings_and_follows_an_upload_until_it_is_applied(
        web_system, open_page, tmp_path):
    school = web_system.create_school()
    sample = SampleSchool(students=12, classes=3)
    admin = open_page(name="admin")
    admin.goto(web_system.url("/school-data"))
    web_system.staff_signs_in(admin, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(admin)).to_have_text("School data")

    settings = admin.get_by_role("region", name="OneRoster settings")
    settings.get_by_label("Parents").check()
    settings.get_by_label("Your school's OneRoster org ids").fill("ORG1")
    settings.get_by_role("button", name="Save the settings").click()
    expect(admin.get_by_role("status")).to_contain_text("The OneRoster settings are saved")
    assert web_system.call("get", f"{UPLOAD}/settings", school.admin_token).json() == {
        "report_contact_roles": ["parent"], "school_org_ids": ["ORG1"]}
    screenshot(admin, "settings-saved")
    assert_accessible(admin, name="axe-school-data-settings")

    # A class refused for its shape: that one fault, not one more for each of its results.
    tables = {k: [dict(r) for r in v] for k, v in sample.tables.items()}
    index = next(i for i, c in enumerate(tables["classes"]) if c["sourcedId"] == "CL0")
    tables["classes"][index]["classType"] = "Scheduled"
    broken = zip_bundle({k: ("bulk", v) for k, v in tables.items()})
    upload = admin.get_by_role("region", name="Upload a OneRoster bundle")
    upload.get_by_label("OneRoster bundle (zip)").set_input_files(
        _bundle_file(tmp_path, "broken.zip", broken))
    upload.get_by_role("button", name="Upload").click()
    expect(admin.get_by_role("alert")).to_contain_text("The bundle was not applied: 1 problem")
    problems = admin.get_by_role("table", name="Problems in the bundle, by file and line")
    expect(problems.get_by_role("row")).to_have_count(2)  # the heading's and one fault
    expect(problems).to_contain_text("classes.csv")
    expect(problems.get_by_role("cell", name=str(index + 2), exact=True)).to_be_visible()
    screenshot(admin, "upload-refused")
    assert_accessible(admin, name="axe-school-data-refused")

    # A good bundle: a job, followed while it applies (shown half-way), then its outcome.
    half_way = {"on": True}

    def job_status(route):
        response = route.fetch()
        job = response.json()
        if half_way["on"]:
            job = {**job, "status": "applying", "progress": HALF_WAY, "result": None,
                   "finished_at": None}
        route.fulfill(response=response, json=job)
    admin.route(re.compile(r".*/api/v1/school-data/oneroster/jobs/[0-9a-f-]{36}$"),
                job_status)
    upload.get_by_label("OneRoster bundle (zip)").set_input_files(
        _bundle_file(tmp_path, "school.zip", sample.bundle()))
    upload.get_by_role("button", name="Upload").click()
    expect(admin.get_by_role("status")).to_contain_text("it is being applied")
    latest = admin.get_by_role("region", name="The latest upload")
    expect(latest).to_contain_text("Applying the changes: 120 of 300 (49%)")
    expect(latest.get_by_role("progressbar")).to_have_attribute("value", "49")
    expect(admin).to_have_url(re.compile(r"/school-data\?job=[0-9a-f-]{36}$"))
    screenshot(admin, "upload-applying")
    assert_accessible(admin, name="axe-school-data-applying")
    half_way["on"] = False

    expect(admin.get_by_role("status")).to_contain_text("The bundle is applied", timeout=60_000)
    expect(latest).to_contain_text("Applied")
    expect(latest.get_by_role("progressbar")).to_have_count(0)
    # Relatives receive nothing under this setting: listed with the reason, by line.
    ignored = latest.get_by_role("table", name="Rows not taken or changed, and why")
    expect(ignored).to_contain_text("A contact who receives no child's reports is not taken.")
    batches = admin.get_by_role("table", name="Batches, newest first")
    expect(batches).to_contain_text("OneRoster upload")
    screenshot(admin, "upload-applied")
    assert_accessible(admin, name="axe-school-data-applied")
    job_url = admin.url
    no_script_errors(admin)

    # The same bytes again: the same job, already applied.
    admin.unroute_all()
    upload.get_by_label("OneRoster bundle (zip)").set_input_files(
        _bundle_file(tmp_path, "again.zip", sample.bundle()))
    upload.get_by_role("button", name="Upload").click()
    expect(admin.get_by_role("status")).to_contain_text("This bundle was uploaded before")
    expect(admin).to_have_url(job_url)

    # On a phone, coming back to the job's address: the job again; nothing scrolls the
    # page sideways, nor the batches table.
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(job_url)
    web_system.staff_signs_in(phone, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(phone)).to_have_text("School data")
    expect(phone.get_by_role("region", name="The latest upload")).to_contain_text("Applied")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = phone.get_by_role("table", name="Batches, newest first").locator("xpath=..")
    sizes = box.evaluate("b => [b.scrollWidth, b.clientWidth]")
    assert sizes[0] <= sizes[1] + 1, f"the batches table scrolls sideways: {sizes}"
    screenshot(phone, "school-data-phone")
    assert_accessible(phone, name="axe-school-data-phone")
    no_script_errors(phone)


def _family_bundle(tag: str, email: str) -> tuple[bytes, dict[str, str]]:
    """A teacher, a Maths class and two pupils with one parent: Rowan without grades nor a
    demographics row, Sky in grade PS (pre-school: no year group 1-13) with a birthDate."""
    names = {"S1": ("Rowan", f"Nodate{tag}"), "S2": ("Sky", f"Preschool{tag}")}
    users = [{"sourcedId": "T1", "givenName": "Tess", "familyName": "Teacherly",
              "email": f"t-{tag}@browser-tests.example"},
             {"sourcedId": "S1", "givenName": names["S1"][0], "familyName": names["S1"][1],
              "agentSourcedIds": "P1"},
             {"sourcedId": "S2", "givenName": names["S2"][0], "familyName": names["S2"][1],
              "grades": "PS", "agentSourcedIds": "P1"},
             {"sourcedId": "P1", "givenName": "Pat", "familyName": "Example", "email": email,
              "agentSourcedIds": "S1,S2"}]
    roles = [{"sourcedId": f"RO-{u}", "userSourcedId": u, "roleType": "primary", "role": r,
              "orgSourcedId": "ORG1"}
             for u, r in (("T1", "teacher"), ("S1", "student"), ("S2", "student"),
                          ("P1", "parent"))]
    enrollments = [{"sourcedId": f"E-{u}", "classSourcedId": "CL1", "schoolSourcedId": "ORG1",
                    "userSourcedId": u, "role": r}
                   for u, r in (("T1", "teacher"), ("S1", "student"), ("S2", "student"))]
    data = zip_bundle({
        "orgs": ("bulk", [{"sourcedId": "ORG1", "name": "Hill School", "type": "school"}]),
        "academicSessions": ("bulk", [{"sourcedId": "TERM1", "title": "Autumn 2026",
                                       "type": "term", "startDate": "2026-09-01",
                                       "endDate": "2026-12-18"}]),
        "courses": ("bulk", [{"sourcedId": "CO1", "title": "Maths KS3", "subjects": "Maths",
                              "orgSourcedId": "ORG1"}]),
        "classes": ("bulk", [{"sourcedId": "CL1", "title": "Maths 1", "classType": "scheduled",
                              "courseSourcedId": "CO1", "schoolSourcedId": "ORG1"}]),
        "users": ("bulk", [{"enabledUser": "true", **u} for u in users]),
        "roles": ("bulk", roles),
        "demographics": ("bulk", [{"sourcedId": "S2", "birthDate": "2015-03-02"}]),
        "enrollments": ("bulk", enrollments),
        "lineItems": ("bulk", [{"sourcedId": "LI1", "title": "Test 1", "classSourcedId": "CL1",
                                "academicSessionSourcedId": "TERM1", "resultValueMax": "50"}]),
        "results": ("bulk", [{"sourcedId": f"RS-{s}", "lineItemSourcedId": "LI1",
                              "studentSourcedId": s, "scoreStatus": "fully graded",
                              "score": score} for s, score in (("S1", "31"), ("S2", "42"))]),
    })
    return data, {s: " ".join(n) for s, n in names.items()}


def test_a_pupil_without_a_year_group_or_a_date_of_birth_is_shown_so_to_school_and_parent(
        web_system, open_page):
    school = web_system.create_school()
    tag = uuid.uuid4().hex[:6]
    email = f"oneroster-{tag}@browser-tests.example"
    assert web_system.call("put", f"{UPLOAD}/settings", school.admin_token, json={
        "report_contact_roles": ["parent"]}).status_code == 200
    data, names = _family_bundle(tag, email)
    accepted = web_system.call("post", UPLOAD, school.system_token, data=data,
                               headers={"Content-Type": "application/zip"})
    assert accepted.status_code == 202, accepted.text

    def applied():
        job = web_system.call("get", accepted.json()["status_url"], school.system_token).json()
        assert job["status"] in ("queued", "applying", "applied"), job
        return job["status"] == "applied"
    wait_for(applied, timeout=60, interval=0.2, message="the upload applied")
    web_system.publish(school, "Autumn 2026", expect=2, title="Autumn report")

    # The parent: Rowan waits for a date of birth, told why; Sky is confirmed and her
    # report says her year group is not known.
    web_system.activate(email, PASSWORD)
    parent = open_page(name="parent")
    parent.goto(web_system.url("/children"))
    _sign_in(parent, email, PASSWORD)
    waiting = parent.get_by_role("region", name=names["S1"])
    expect(waiting).to_contain_text("Waiting for the school to send a date of birth")
    expect(waiting).to_contain_text(f"the school has not sent {names['S1']}'s yet")
    expect(waiting.get_by_role("group", name="Date of birth")).to_have_count(0)
    sky = parent.get_by_role("region", name=names["S2"])
    fill_date(sky, "2015-03-02")
    sky.get_by_role("button", name="Confirm").click()
    expect(sky.get_by_text("Confirmed")).to_be_visible()
    screenshot(parent, "children")
    assert_accessible(parent, name="axe-parent-children")
    sky.get_by_role("link", name=f"Reports for {names['S2']}").click()
    parent.get_by_role("link", name="Autumn report", exact=True).click()
    expect(page_heading(parent)).to_have_text("Autumn report")
    expect(parent.get_by_role("main")).to_contain_text("year group not known")
    screenshot(parent, "report-year-group-not-known")
    assert_accessible(parent, name="axe-parent-report")
    no_script_errors(parent)

    # The school: the link waits for a date of birth; the report's year group not known.
    admin = open_page(name="admin")
    admin.goto(web_system.url("/links"))
    web_system.staff_signs_in(admin, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(admin)).to_have_text("Links between parents and children")
    row = admin.get_by_role("listitem").filter(has=admin.get_by_role(
        "link", name=names["S1"], exact=True))
    expect(row).to_contain_text("Waiting for the school to send a date of birth")
    expect(admin.get_by_role("listitem").filter(has=admin.get_by_role(
        "link", name=names["S2"], exact=True))).not_to_contain_text("Waiting for the school")
    screenshot(admin, "links-waiting")
    assert_accessible(admin, name="axe-admin-links-waiting")
    main_nav(admin, "Reports").click()
    published = admin.get_by_role("table", name="Reports, newest first")
    published.get_by_role("link", name=f"Preview the report for {names['S1']}").click()
    expect(page_heading(admin)).to_have_text("Autumn report")
    expect(admin.get_by_role("main")).to_contain_text("year group not known")
    screenshot(admin, "preview-year-group-not-known")
    assert_accessible(admin, name="axe-admin-preview")
    no_script_errors(admin)

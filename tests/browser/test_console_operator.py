"""The operator's console in Debian's headless chromium against the running system (issue
15): an operator adds a school with its authorisation record, invites its administrator,
issues client credentials (the secret shown once, and they work), revokes them; publishes a
privacy notice version and sees it listed; offboards a school and watches every service
erase its data; the schools list on a phone. axe-core on every screen, screenshots as
artefacts.

The accessible names used here are the contract in web/README.md ("Operator console")."""
import email
import email.policy
import pathlib
import re
import urllib.parse
import uuid

from playwright.sync_api import expect

from shared.config import RIGHTS_PARTICIPANTS
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.support import (
    assert_accessible, family_events, main_nav, no_script_errors, page_heading, screenshot)
from tests.support import wait_for

WAIT = 60_000  # ms: offboarding travels through every service's queue


def _sign_in_as_operator(page, web_system, path="/schools"):
    page.goto(web_system.url(path))
    expect(page_heading(page)).to_have_text("Sign in")
    web_system.staff_signs_in(page, *web_system.operator)


def _client_token(web_system, client_id, secret):
    return web_system.call("post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})


def test_an_operator_adds_a_school_and_issues_credentials_that_work(web_system, page):
    tag = uuid.uuid4().hex[:8]
    name = f"Operator School {tag}"
    _sign_in_as_operator(page, web_system)
    expect(page_heading(page)).to_have_text("Schools")
    expect(main_nav(page, "Schools")).to_have_attribute("aria-current", "page")
    screenshot(page, "schools")
    assert_accessible(page, name="axe-schools")

    page.get_by_role("link", name="Add a school").click()
    expect(page_heading(page)).to_have_text("Add a school")
    page.get_by_role("button", name="Add the school").click()  # nothing filled in
    expect(page.get_by_role("alert")).to_contain_text("4 fields to complete")
    expect(page.get_by_label("School name")).to_be_focused()
    expect(page.get_by_label("School name")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "add-school-errors")
    assert_accessible(page, name="axe-add-school-errors")
    page.get_by_label("School name").fill(name)
    authorisation = page.get_by_role("group", name="The school's authorisation")
    authorisation.get_by_label("Reference").fill(f"DPIA-{tag}")
    authorisation.get_by_label("Authorised by").fill("Dana Headteacher")
    authorisation.get_by_label("Date authorised").fill("2026-09-01")
    page.get_by_label("Students get their own accounts").check()
    page.get_by_role("button", name="Add the school").click()

    expect(page_heading(page)).to_have_text(name)
    expect(page.get_by_role("status")).to_contain_text(f"{name} is active")
    school_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    main = page.get_by_role("main")
    expect(main).to_contain_text(f"DPIA-{tag}")
    expect(main).to_contain_text("Dana Headteacher")
    expect(main).to_contain_text("1 September 2026")
    expect(page.get_by_label("Students get their own accounts")).to_be_checked()
    detail = web_system.call("get", f"/api/v1/schools/{school_id}",
                             web_system.operator_token()).json()
    assert detail["authorisation"] == {"reference": f"DPIA-{tag}",
                                       "authorised_by": "Dana Headteacher",
                                       "date": "2026-09-01"}
    assert detail["student_accounts"] is True and detail["status"] == "active"
    screenshot(page, "school")
    assert_accessible(page, name="axe-school")

    admins = page.get_by_role("region", name="School administrators")
    admin_email = f"admin-{tag}@browser-tests.example"
    admins.get_by_label("Name").fill("Alex Admin")
    admins.get_by_label("Email").fill(admin_email)
    admins.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to Alex Admin")
    row = admins.get_by_role("row", name=re.compile("Alex Admin"))
    expect(row).to_contain_text(admin_email)
    expect(row).to_contain_text("Invited on")
    assert "token=" in web_system.invitation_link(admin_email)  # the email went out

    credentials = page.get_by_role("region", name="School-system credentials")
    credentials.get_by_role("button", name="Issue new credentials").click()
    fresh = page.get_by_role("region", name=re.compile("^New credentials"))
    expect(fresh).to_contain_text("Shown only once")
    expect(fresh.get_by_role("heading")).to_be_focused()
    client_id = fresh.get_by_label("Client id").input_value()
    secret = fresh.get_by_label("Client secret").input_value()
    assert client_id and len(secret) >= 20
    expect(credentials.get_by_role("row", name=re.compile(client_id))).to_contain_text("In use")
    screenshot(page, "credentials-issued")
    assert_accessible(page, name="axe-credentials-issued")

    # The credentials work: a school system's token for this school, and only it.
    token = _client_token(web_system, client_id, secret)
    assert token.status_code == 200, token.text
    me = web_system.call("get", "/api/v1/me", token.json()["access_token"]).json()
    assert me["role"] == "school_system" and me["school_ids"] == [school_id]

    fresh.get_by_role("button", name="I have copied the secret").click()
    expect(page.get_by_role("region", name=re.compile("^New credentials"))).to_have_count(0)
    page.reload()  # the secret is nowhere to be seen again
    expect(page_heading(page)).to_have_text(name)
    expect(page.get_by_role("region", name="School-system credentials")).to_contain_text(
        client_id)
    assert secret not in page.content()

    credentials = page.get_by_role("region", name="School-system credentials")
    credentials.get_by_role("button", name=f"Revoke {client_id}").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Revoke credentials"))).to_be_focused()
    assert_accessible(page, name="axe-revoke-confirm")
    page.get_by_role("button", name="Yes, revoke them").click()
    expect(credentials.get_by_role("row", name=re.compile(client_id))).to_contain_text(
        "Revoked on")
    assert _client_token(web_system, client_id, secret).status_code == 401

    main_nav(page, "Schools").click()
    row = page.get_by_role("row", name=re.compile(re.escape(name)))
    expect(row).to_contain_text(f"DPIA-{tag}")
    expect(row).to_contain_text("Active")
    row.get_by_role("link", name=name).click()
    expect(page_heading(page)).to_have_text(name)
    no_script_errors(page)


def _privacy_notice_link(mail_dir, address: str, version: str) -> str | None:
    """The link of the privacy-notice mail to `address` about `version`, once it is sent."""
    for path in pathlib.Path(mail_dir).glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address not in str(message["To"]) or "privacy notice" not in str(
                message["Subject"]):
            continue
        text = message.get_body(("plain",)).get_content()
        match = re.search(r"Read the privacy notice: (\S+)", text)
        if match and f"version={urllib.parse.quote(version)}" in match.group(1):
            return match.group(1)
    return None


def test_an_operator_publishes_a_privacy_notice_version_and_it_is_listed(web_system, page):
    """Issue 24: a version carries its text, and the mail announcing it links to that
    version's text."""
    version = f"op-{uuid.uuid4().hex[:8]}"
    school = web_system.create_school()
    _sign_in_as_operator(page, web_system, "/privacy-notices")
    expect(page_heading(page)).to_have_text("Privacy notice")
    assert_accessible(page, name="axe-privacy-notice")
    publish = page.get_by_role("region", name="Publish a new version")
    publish.get_by_role("button", name="Publish this version").click()
    expect(publish.get_by_label("Version")).to_be_focused()  # nothing filled in
    publish.get_by_label("Version").fill(version)
    publish.get_by_label("In effect from").fill("2027-03-01")
    publish.get_by_role("button", name="Publish this version").click()
    expect(publish.get_by_label("Text of the notice")).to_be_focused()  # no text yet
    expect(publish).to_contain_text("Enter the text of the notice.")
    publish.get_by_label("Text of the notice").fill(
        f"Notice {version}: we keep only what your school sends.\n\n"
        "You can ask your school for a copy of your data.")
    publish.get_by_role("button", name="Publish this version").click()
    expect(page.get_by_role("status")).to_contain_text(f"Version {version} published")
    versions = page.get_by_role("table", name="Published versions")
    row = versions.get_by_role("row", name=re.compile(re.escape(version)))
    expect(row).to_contain_text("1 March 2027")
    screenshot(page, "privacy-notice-published")
    assert_accessible(page, name="axe-privacy-notice-published")
    listed = web_system.call("get", "/api/v1/privacy-notices").json()["items"]
    assert any(n["version"] == version and n["effective_date"] == "2027-03-01"
               for n in listed)

    # The same version with other words is refused beside the field: a change is a new one.
    publish.get_by_label("Version").fill(version)
    publish.get_by_label("In effect from").fill("2027-03-01")
    publish.get_by_label("Text of the notice").fill("Other words.")
    publish.get_by_role("button", name="Publish this version").click()
    expect(publish).to_contain_text("publish the change as a new version")

    # The school's admin is mailed a link to this version's text.
    link = wait_for(lambda: _privacy_notice_link(web_system.mail_dir, school.admin_email,
                                                 version),
                    timeout=60, interval=0.2, message="the privacy-notice mail")
    page.goto(link)
    expect(page_heading(page)).to_have_text("How we keep your data safe")
    notice = page.get_by_role("region", name=f"Privacy notice, version {version}")
    expect(notice).to_contain_text(f"Notice {version}: we keep only what your school sends.")
    expect(notice.locator("p", has_text="You can ask your school")).to_have_count(1)
    expect(notice).to_contain_text("In effect from 1 March 2027")
    screenshot(page, "privacy-notice-version-text")
    assert_accessible(page, name="axe-privacy-notice-version-text")
    no_script_errors(page)


def test_offboarding_shows_each_services_progress_until_every_one_has_erased(web_system,
                                                                             page):
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=1)  # data in every service to erase
    name = web_system.call("get", f"/api/v1/schools/{school.id}",
                           web_system.operator_token()).json()["name"]
    _sign_in_as_operator(page, web_system, f"/schools/{school.id}")
    expect(page_heading(page)).to_have_text(name)
    expect(page.get_by_role("region", name="School administrators")).to_contain_text(
        school.admin_email)

    offboarding = page.get_by_role("region", name="Offboarding")
    offboarding.get_by_role("button", name=f"Offboard {name}").click()
    expect(page.get_by_role("heading", name=f"Offboard {name}?")).to_be_focused()
    screenshot(page, "offboard-confirm")
    assert_accessible(page, name="axe-offboard-confirm")
    page.get_by_role("button", name=f"Yes, offboard {name}").click()

    progress = page.get_by_role("region", name="Offboarding progress")
    answers = progress.get_by_role("list", name="Progress in each part of the system")
    expect(answers.get_by_role("listitem")).to_have_count(len(RIGHTS_PARTICIPANTS),
                                                           timeout=WAIT)
    screenshot(page, "offboarding-in-progress")
    expect(progress).to_contain_text("Completed", timeout=WAIT)
    for item in answers.get_by_role("listitem").all():
        expect(item).to_contain_text("Erased")
    for service in RIGHTS_PARTICIPANTS:
        expect(answers).to_contain_text(f"({service}): Erased")
    expect(page.get_by_role("main")).to_contain_text("Offboard")
    screenshot(page, "offboarding-completed")
    assert_accessible(page, name="axe-offboarding-completed")

    # The certificate (issue 30): every service's signed statement, verified offline.
    certificate = progress.get_by_role("button", name="Download the offboarding certificate")
    with page.expect_download() as download:
        certificate.click()
    assert download.value.suggested_filename == f"offboarding-{school.id}.jws"
    with open(download.value.path(), encoding="utf-8") as file:
        verified = web_system.verify_receipt(file.read())
    assert verified.request["kind"] == "offboarding" and verified.request["subject"] is None
    assert set(verified.answers) == set(RIGHTS_PARTICIPANTS)
    expect(page.get_by_role("status")).to_contain_text(
        "The offboarding certificate is downloaded")
    screenshot(page, "offboarding-certificate")
    page.set_viewport_size(PHONE)  # the same screen on a phone
    expect(certificate).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the offboarded school is {overflow}px wider than the phone"
    screenshot(page, "phone-offboarding-certificate")
    assert_accessible(page, name="axe-phone-offboarding-certificate")
    page.set_viewport_size(DESKTOP)

    # Its people and its system are stopped; its admins and credentials are gone.
    assert web_system.call("post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": school.admin_email,
        "password": school.admin_password}).status_code == 401
    page.reload()
    expect(page_heading(page)).to_have_text(name)
    expect(page.get_by_role("main")).to_contain_text("Offboarded")
    expect(page.get_by_role("region", name="School administrators")).to_have_count(0)
    expect(page.get_by_role("region", name="Offboarding progress")).to_contain_text(
        "Completed", timeout=WAIT)
    main_nav(page, "Schools").click()
    expect(page.get_by_role("row", name=re.compile(re.escape(name)))).to_contain_text(
        "Offboarded")
    no_script_errors(page)


def test_the_operator_console_on_a_phone(web_system, open_page):
    school = web_system.create_school()
    page = open_page(viewport=PHONE, name="phone")
    _sign_in_as_operator(page, web_system)
    expect(page_heading(page)).to_have_text("Schools")
    for label, path, heading in (("schools", "/schools", "Schools"),
                                 ("school", f"/schools/{school.id}", None),
                                 ("add-school", "/schools/new", "Add a school"),
                                 ("privacy-notice", "/privacy-notices", "Privacy notice")):
        page.goto(web_system.url(path))
        if heading:
            expect(page_heading(page)).to_have_text(heading)
        else:
            expect(page.get_by_role("region", name="School-system credentials")
                   ).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
        screenshot(page, f"phone-{label}")
        assert_accessible(page, name=f"axe-phone-{label}")
    no_script_errors(page)

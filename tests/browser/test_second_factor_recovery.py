"""Recovering two-step sign-in in Debian's headless chromium (issue 25): a school admin
resets another admin's two-step sign-in from the console's "Two-step sign-in" screen (never
their own), sees the reset in the school's record with their name, and the reset admin sets
the app up again at their next sign-in; the operator does the same from the school's page;
the navigation offers "Sign out", not "Sign in", between the password and the code. axe-core
on every screen, screenshots (desktop and a 390 px phone) as artefacts.

The accessible names used here are the contract in web/README.md ("Two-step sign-in")."""
import uuid

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (ADMIN_PASSWORD, assert_accessible, main_nav,
                                   no_script_errors, page_heading, screenshot)

REGION = "Two-step sign-in of the school's administrators"


def _second_admin(web_system, school, name="Bea Backup") -> str:
    """Another admin of the school, invited and activated, with their app set up (API)."""
    email = f"backup-{uuid.uuid4().hex[:8]}@browser-tests.example"
    invited = web_system.call("post", f"/api/v1/schools/{school.id}/staff",
                              web_system.operator_token(), json={
                                  "name": name, "email": email, "role": "school_admin"})
    assert invited.status_code == 201, invited.text
    web_system.activate(email, ADMIN_PASSWORD)
    return email


def _row(region, name):
    """The administrator's row of the region's table of administrators."""
    admins = region.get_by_role("table", name="Administrators' two-step sign-in")
    return admins.get_by_role("row").filter(has=region.page.get_by_role("rowheader",
                                                                         name=name))


def test_an_admin_resets_another_admins_two_step_sign_in(web_system, page, open_page):
    school = web_system.create_school()
    backup = _second_admin(web_system, school)
    page.goto(web_system.url("/two-step"))
    page.get_by_label("Email").fill(school.admin_email)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page_heading(page)).to_have_text("Enter your code")
    # Between the password and the code the person is signed in: "Sign out", not "Sign in".
    expect(main_nav(page, "Sign out")).to_be_visible()
    expect(main_nav(page, "Sign in")).to_have_count(0)
    screenshot(page, "code-screen-nav")
    from tests import second_factor
    page.get_by_label("Code", exact=True).fill(second_factor.code_for(school.admin_email))
    page.get_by_role("button", name="Continue").click()

    expect(page_heading(page)).to_have_text("Two-step sign-in")
    region = page.get_by_role("region", name=REGION)
    expect(_row(region, "Bea Backup")).to_contain_text("Set up on")
    expect(_row(region, "Alex Admin")).to_contain_text("You (change yours below)")
    expect(region.get_by_role("button", name="Reset two-step sign-in for Alex Admin")
           ).to_have_count(0)  # never one's own
    expect(region).to_contain_text("No one's two-step sign-in has been reset")
    screenshot(page, "two-step-admins")
    assert_accessible(page, name="axe-two-step-admins")

    region.get_by_role("button", name="Reset two-step sign-in for Bea Backup").click()
    confirm = page.get_by_role("group", name="Confirm the reset")
    expect(confirm).to_contain_text("they set up an app again at their next sign-in")
    screenshot(page, "two-step-confirm-reset")
    assert_accessible(page, name="axe-two-step-confirm-reset")
    confirm.get_by_role("button", name="Yes, reset Bea Backup's two-step sign-in").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Bea Backup's two-step sign-in was reset")
    expect(_row(region, "Bea Backup")).to_contain_text("Not set up")
    resets = page.get_by_role("table", name="Two-step sign-in resets")
    expect(resets.get_by_role("row").nth(1)).to_contain_text("Bea Backup")
    expect(resets.get_by_role("row").nth(1)).to_contain_text("Alex Admin")
    screenshot(page, "two-step-reset-done")
    assert_accessible(page, name="axe-two-step-reset-done")
    no_script_errors(page)

    # The reset admin's next sign-in sets the app up again; on a phone, nothing overflows.
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/"))
    phone.get_by_label("Email").fill(backup)
    phone.get_by_label("Password").fill(ADMIN_PASSWORD)
    phone.get_by_role("button", name="Sign in", exact=True).click()
    expect(page_heading(phone)).to_have_text("Set up two-step sign-in")
    expect(main_nav(phone, "Sign in")).to_have_count(0)

    # The admin's screen on a phone.
    admin_phone = open_page(viewport=PHONE, name="admin-phone")
    admin_phone.goto(web_system.url("/two-step"))
    web_system.staff_signs_in(admin_phone, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(admin_phone)).to_have_text("Two-step sign-in")
    expect(admin_phone.get_by_role("table", name="Two-step sign-in resets")).to_be_visible()
    overflow = admin_phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(admin_phone, "two-step-admins-phone")
    assert_accessible(admin_phone, name="axe-two-step-admins-phone")
    no_script_errors(admin_phone)


def test_the_operator_resets_a_school_admins_two_step_sign_in(web_system, page):
    school = web_system.create_school()
    page.goto(web_system.url(f"/schools/{school.id}"))
    web_system.staff_signs_in(page, *web_system.operator)
    region = page.get_by_role("region", name=REGION)
    expect(_row(region, "Alex Admin")).to_contain_text("Set up on")
    region.get_by_role("button", name="Reset two-step sign-in for Alex Admin").click()
    page.get_by_role("group", name="Confirm the reset").get_by_role(
        "button", name="Yes, reset Alex Admin's two-step sign-in").click()
    expect(page.get_by_role("status")).to_contain_text("Alex Admin's two-step sign-in was reset")
    resets = page.get_by_role("table", name="Two-step sign-in resets")
    expect(resets.get_by_role("row").nth(1)).to_contain_text("A Pupil Progress operator")
    screenshot(page, "operator-two-step-reset")
    assert_accessible(page, name="axe-operator-two-step-reset")
    no_script_errors(page)


def test_an_admin_makes_new_recovery_codes_and_sets_up_a_new_app(web_system, page,
                                                                  open_page):
    school = web_system.create_school()
    page.goto(web_system.url("/two-step"))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    own = page.get_by_role("region", name="Your two-step sign-in")
    own.get_by_role("button", name="Make new recovery codes").click()
    expect(own.get_by_role("list", name="Recovery codes").get_by_role("listitem")
           ).to_have_count(10)
    screenshot(page, "new-recovery-codes")
    assert_accessible(page, name="axe-new-recovery-codes")
    no_script_errors(page)

    # A new phone: a new key, confirmed with the new app's code, replaces the old one.
    own.get_by_role("button", name="Set up a new authenticator app").click()
    qr = own.get_by_role("img", name="QR code of your new sign-in key, for your "
                                     "authenticator app")
    expect(qr).to_be_visible()
    key = own.locator(".totp-key").inner_text().replace(" ", "")
    own.get_by_label("Code from the new app").fill("000000" if pyotp.TOTP(key).now()
                                                   != "000000" else "111111")
    own.get_by_role("button", name="Confirm the new app").click()
    expect(own.get_by_label("Code from the new app")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "new-app-wrong-code")
    assert_accessible(page, name="axe-new-app-wrong-code")
    own.get_by_label("Code from the new app").fill(pyotp.TOTP(key).now())
    own.get_by_role("button", name="Confirm the new app").click()
    expect(own).to_contain_text("Your new authenticator app is set up")
    codes = own.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    recovery = codes.nth(0).inner_text()
    screenshot(page, "new-app-set-up")
    no_script_errors(page)
    # The next sign-in takes the new app's codes (here a new recovery code), on a phone.
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/two-step"))
    phone.get_by_label("Email").fill(school.admin_email)
    phone.get_by_label("Password").fill(ADMIN_PASSWORD)
    phone.get_by_role("button", name="Sign in", exact=True).click()
    phone.get_by_label("Code", exact=True).fill(recovery)
    phone.get_by_role("button", name="Continue").click()
    expect(page_heading(phone)).to_have_text("Two-step sign-in")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"

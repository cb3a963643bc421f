"""Passkeys in Debian's headless chromium (issue 25), with the browser's own virtual
authenticator (DevTools protocol WebAuthn.addVirtualAuthenticator: CTAP2, internal,
resident keys, user verification): real credentials, checked by identity with
py_webauthn; nothing faked on the server's side.

A parent adds a passkey in Account settings, signs out, signs in with it (no email, no
password) and reads their child's reports; a school admin signs in with one on a phone
and reaches the console with no code asked; a removed passkey signs nobody in.

The page is opened at http://localhost:<port>: browsers refuse an IP address as the
relying party's id, so the embedded system's passkeys are for localhost (Settings)."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (ADMIN_PASSWORD, assert_accessible, family_events,
                                   fill_date, main_nav, no_script_errors, page_heading,
                                   said_once, screenshot)

PASSWORD = "a-parent-password-1"


def local(web_system, path="/"):
    return web_system.url(path).replace("://127.0.0.1:", "://localhost:")


def virtual_authenticator(page) -> tuple:
    """A platform authenticator in this page's browser, as a phone's or a laptop's: it
    keeps passkeys, verifies the user (its PIN or fingerprint, always given here)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    page.virtual_authenticator = (cdp, added["authenticatorId"])
    return cdp, added["authenticatorId"]


def credentials_made(page) -> int:
    cdp, authenticator_id = page.virtual_authenticator
    return len(credentials(cdp, authenticator_id))


def credentials(cdp, authenticator_id) -> list:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id}
                    )["credentials"]


def sign_in_with_password(page, email, password):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def add_passkey(page, name, password=None):
    """Adding one asks for the password again, unless a second factor was given within
    15 minutes (the school admin's code, just now)."""
    main_nav(page, "Account").click()
    expect(page_heading(page)).to_have_text("Account settings")
    section = page.get_by_role("region", name="Passkeys")
    section.get_by_label("Passkey name").fill(name)
    if password:
        section.get_by_role("button", name="Add a passkey").click()  # no password yet
        expect(section.get_by_label("Your password")).to_have_attribute("aria-invalid",
                                                                        "true")
        assert credentials_made(page) == 0
        section.get_by_label("Your password").fill(password)
    section.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status")).to_contain_text(f'Passkey "{name}" added')
    expect(section.get_by_role("list", name="Your passkeys").get_by_role("listitem")
           ).to_contain_text([name])
    return section


def sign_out(page):
    main_nav(page, "Sign out").click()
    expect(page_heading(page)).to_have_text("Sign in")


def test_a_parent_signs_in_with_a_passkey_and_a_removed_one_stops_working(web_system,
                                                                          page):
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=1, title="Passkey term report")
    web_system.activate(family.parent_email, PASSWORD)
    child = family.children[0]
    cdp, authenticator = virtual_authenticator(page)

    page.goto(local(web_system))
    sign_in_with_password(page, family.parent_email, PASSWORD)
    expect(page_heading(page)).to_have_text("Your children")
    region = page.get_by_role("region", name=child.name)
    fill_date(region, child.date_of_birth)
    region.get_by_role("button", name="Confirm").click()
    expect(region.get_by_text("Confirmed")).to_be_visible()

    section = add_passkey(page, "My laptop", PASSWORD)
    assert len(credentials(cdp, authenticator)) == 1  # made by the browser's authenticator
    expect(section).to_contain_text("Not used yet")
    screenshot(page, "account-passkeys")
    assert_accessible(page, name="axe-account-passkeys")
    sign_out(page)

    button = page.get_by_role("button", name="Sign in with a passkey")
    expect(button).to_be_visible()
    screenshot(page, "sign-in-with-a-passkey")
    assert_accessible(page, name="axe-sign-in-passkey")
    button.click()  # no email, no password: the authenticator offers its passkey
    expect(page_heading(page)).to_have_text("Your children")
    expect(page.get_by_role("region", name=child.name).get_by_text("Confirmed")).to_be_visible()
    main_nav(page, "Reports").click()
    expect(page_heading(page)).to_have_text(re.compile(r"^Reports for "))
    page.get_by_role("link", name="Passkey term report", exact=True).click()
    expect(page_heading(page)).to_have_text("Passkey term report")
    expect(page.get_by_role("heading", name="Attainment against target")).to_be_visible()
    assert credentials(cdp, authenticator)[0]["signCount"] >= 1

    main_nav(page, "Account").click()
    section = page.get_by_role("region", name="Passkeys")
    expect(section).to_contain_text("Last used")
    section.get_by_role("button", name="Remove passkey My laptop").click()
    # This sign-in began with it: it ends too (else a thief holding a lost phone's sign-in
    # would keep it by removing the phone's passkey first), and the page says why.
    expect(page.get_by_role("status")).to_contain_text(
        'Passkey "My laptop" removed. This device signed in with it, so it is signed out too')
    expect(page_heading(page)).to_have_text("Sign in")
    expect(page.get_by_text('Passkey "My laptop" removed.')).to_have_count(1)  # said once

    # The device still holds it, but identity no longer knows it: refused.
    assert len(credentials(cdp, authenticator)) == 1
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("could not sign you in")
    expect(page_heading(page)).to_have_text("Sign in")
    screenshot(page, "removed-passkey-refused")
    assert_accessible(page, name="axe-removed-passkey-refused")
    no_script_errors(page)


def test_a_school_admin_signs_in_with_a_passkey_on_a_phone_without_a_code(web_system,
                                                                          open_page):
    school = web_system.create_school()
    phone = open_page(viewport=PHONE, name="phone")
    cdp, authenticator = virtual_authenticator(phone)
    phone.goto(local(web_system))
    web_system.staff_signs_in(phone, school.admin_email, ADMIN_PASSWORD)  # password + code
    expect(page_heading(phone)).to_have_text("Subject requests")
    add_passkey(phone, "Work phone")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(phone, "account-passkeys-phone")
    assert_accessible(phone, name="axe-account-passkeys-phone")
    sign_out(phone)
    screenshot(phone, "sign-in-phone")

    phone.get_by_role("button", name="Sign in with a passkey").click()
    expect(page_heading(phone)).to_have_text("Subject requests")  # no "Enter your code"
    expect(phone.get_by_role("heading", name="Enter your code")).to_have_count(0)
    assert credentials(cdp, authenticator)[0]["signCount"] >= 1
    screenshot(phone, "console-after-passkey-phone")
    no_script_errors(phone)


def test_a_school_admin_gives_the_second_factor_again_with_a_passkey(web_system, open_page):
    """Step-up for staff who sign in with a passkey: with the factor over 15 minutes old, a
    grave action's "Enter your code again" dialog offers the passkey instead of the app's
    code; the same login's passkey passes it and the action goes on (here the removal
    of that very passkey, which ends the sign-in it has just begun: the page says so)."""
    from tests import second_factor
    from tests.browser.test_second_factor import _age_second_factor
    school = web_system.create_school()
    page = open_page(name="laptop")
    virtual_authenticator(page)
    page.goto(local(web_system))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    add_passkey(page, "Work laptop")
    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page_heading(page)).to_have_text("Subject requests")

    _age_second_factor(web_system, second_factor.account_of(school.admin_token))
    page.reload()  # the next token comes from a sign-in that passed its factor 16 min ago
    main_nav(page, "Account").click()
    section = page.get_by_role("region", name="Passkeys")
    section.get_by_role("button", name="Remove passkey Work laptop").click()
    dialog = page.get_by_role("dialog", name="Enter your code again")
    expect(dialog).to_be_visible()
    screenshot(page, "step-up-passkey")
    assert_accessible(page, name="axe-step-up-passkey")
    # The passkey refused (the person not verified): said once, in the dialog.
    cdp, authenticator = page.virtual_authenticator
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator,
                                          "isUserVerified": False})
    dialog.get_by_role("button", name="Use a passkey instead").click()
    expect(dialog.get_by_role("alert")).not_to_be_empty()
    said_once(page)
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator,
                                          "isUserVerified": True})
    dialog.get_by_role("button", name="Use a passkey instead").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text(
        'Passkey "Work laptop" removed. This device signed in with it')
    expect(page_heading(page)).to_have_text("Sign in")
    no_script_errors(page)

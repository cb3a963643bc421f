"""Two-step sign-in for school staff and operators in Debian's headless chromium (issue
25): a new admin's first sign-in sets up the authenticator app (a QR code drawn by
identity, and its key to type in), confirms it with a code and keeps ten recovery codes;
the next sign-in asks for the app's code (a wrong one is refused), and on a phone a
recovery code does instead. axe-core on every screen, screenshots as artefacts.

The accessible names used here are the contract in web/README.md ("Two-step sign-in")."""
import datetime as dt
import uuid

import pyotp
from playwright.sync_api import expect

from shared.demo import token_of
from tests import second_factor
from tests.browser.conftest import PHONE
from tests.browser.support import (ADMIN_PASSWORD, assert_accessible, no_script_errors,
                                   page_heading, said_once, screenshot)


def _new_admin(web_system) -> str:
    """An admin invited and activated through the API, never signed in: no app yet."""
    school = web_system.create_school()
    email = f"new-admin-{uuid.uuid4().hex[:8]}@browser-tests.example"
    invited = web_system.call("post", f"/api/v1/schools/{school.id}/staff",
                              web_system.operator_token(), json={
                                  "name": "Nia Newadmin", "email": email,
                                  "role": "school_admin"})
    assert invited.status_code == 201, invited.text
    activated = web_system.call("post", "/api/v1/auth/activate", json={
        "token": token_of(web_system.invitation_link(email)), "password": ADMIN_PASSWORD})
    assert activated.status_code == 200, activated.text
    return email


def _password(page, email):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _code(totp, steps=0):
    return totp.at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30 * steps))


def test_a_new_admin_sets_up_the_app_then_signs_in_with_its_code(web_system, page,
                                                                  open_page):
    email = _new_admin(web_system)
    page.goto(web_system.url("/"))
    _password(page, email)
    expect(page_heading(page)).to_have_text("Set up two-step sign-in")
    qr = page.get_by_role("img", name="QR code of your sign-in key, for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")  # drawn here
    key = page.locator(".totp-key").inner_text().replace(" ", "")
    totp = pyotp.TOTP(key)
    screenshot(page, "set-up-two-step")
    assert_accessible(page, name="axe-set-up-two-step")

    page.get_by_role("button", name="Confirm").click()  # nothing typed
    expect(page.get_by_label("Code from the app")).to_have_attribute("aria-invalid", "true")
    used = _code(totp)
    page.get_by_label("Code from the app").fill(used)
    page.get_by_role("button", name="Confirm").click()
    expect(page_heading(page)).to_have_text("Keep your recovery codes")
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    recovery = codes.nth(0).inner_text()
    screenshot(page, "recovery-codes")
    assert_accessible(page, name="axe-recovery-codes")
    page.get_by_role("button", name="I have kept my recovery codes").click()
    expect(page_heading(page)).to_have_text("Subject requests")  # the console, at last
    no_script_errors(page)

    # The next sign-in asks for the app's code; a wrong one is refused.
    again = open_page(name="desktop-again")
    again.goto(web_system.url("/"))
    _password(again, email)
    expect(page_heading(again)).to_have_text("Enter your code")
    again.get_by_label("Code", exact=True).fill(used)  # accepted once already
    again.get_by_role("button", name="Continue").click()
    expect(again.get_by_role("alert")).to_contain_text("wrong or was used already")
    said_once(again)
    screenshot(again, "code-refused")
    assert_accessible(again, name="axe-code-refused")
    again.get_by_label("Code", exact=True).fill(_code(totp, steps=1))  # a later step's
    again.get_by_role("button", name="Continue").click()
    expect(page_heading(again)).to_have_text("Subject requests")

    # On a phone (390 px): a recovery code instead of the app's.
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/"))
    _password(phone, email)
    expect(page_heading(phone)).to_have_text("Enter your code")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(phone, "enter-code-phone")
    assert_accessible(phone, name="axe-enter-code-phone")
    phone.get_by_label("Code", exact=True).fill(recovery)
    phone.get_by_role("button", name="Continue").click()
    expect(page_heading(phone)).to_have_text("Subject requests")
    no_script_errors(phone)


def test_the_set_up_screen_fits_a_phone(web_system, open_page):
    email = _new_admin(web_system)
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/"))
    _password(phone, email)
    expect(page_heading(phone)).to_have_text("Set up two-step sign-in")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(phone, "set-up-two-step-phone")
    assert_accessible(phone, name="axe-set-up-two-step-phone")
    no_script_errors(phone)


def _age_second_factor(web_system, account_id, minutes=16):
    """As if this login's sign-ins passed their second factor `minutes` ago: what the
    clock would do, written in the running system's identity database (SQLite)."""
    import sqlalchemy as sa

    from services.identity.models import refresh_tokens
    engine = sa.create_engine(f"sqlite:///{web_system.data_dir / 'identity.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(refresh_tokens.update().where(
                refresh_tokens.c.account_id == account_id,
                refresh_tokens.c.otp_at.is_not(None)).values(
                otp_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)))
    finally:
        engine.dispose()


def test_the_operator_gives_the_code_again_to_issue_credentials(web_system, page):
    """Step-up: with the code older than 15 minutes, issuing credentials asks for it again
    in a dialog, then goes through without another click."""
    school = web_system.create_school()
    page.goto(web_system.url(f"/schools/{school.id}"))
    web_system.staff_signs_in(page, *web_system.operator)
    credentials = page.get_by_role("region", name="School-system credentials")
    expect(credentials.get_by_role("button", name="Issue new credentials")).to_be_visible()
    operator_id = second_factor.account_of(web_system.operator_token())
    _age_second_factor(web_system, operator_id)
    page.reload()  # the console's next token comes from its sign-in: passed 16 minutes ago
    credentials = page.get_by_role("region", name="School-system credentials")
    credentials.get_by_role("button", name="Issue new credentials").click()
    dialog = page.get_by_role("dialog", name="Enter your code again")
    expect(dialog).to_be_visible()
    screenshot(page, "step-up")
    assert_accessible(page, name="axe-step-up")
    dialog.get_by_label("Code", exact=True).fill("000000")  # wrong: said once, in the dialog
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog.get_by_role("alert")).to_contain_text("wrong or was used already")
    said_once(page)
    dialog.get_by_label("Code", exact=True).fill(second_factor.code_for(web_system.operator[0]))
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("New credentials issued")
    no_script_errors(page)

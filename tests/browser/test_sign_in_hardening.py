"""Sign-in hardening in the web app (docs/decisions.md "Sign-in hardening"), in Debian's
headless chromium against the embedded system: a sign-in past its absolute lifetime
(PP_SIGN_IN_MAX_DAYS) signs the person out saying why, and a passkey step-up ending
while a refresh of the old sign-in is still in flight keeps the new sign-in (the newest
sign-in wins; the tab used to be signed out)."""
import datetime as dt
import email
import email.policy
import re

import sqlalchemy as sa
from playwright.sync_api import expect

from tests import second_factor
from tests.browser.support import (ADMIN_PASSWORD, family_events, main_nav, no_script_errors,
                                   page_heading)
from tests.browser.test_passkeys import (PASSWORD, add_passkey, local, sign_in_with_password,
                                         sign_out, virtual_authenticator)
from tests.browser.test_second_factor import _age_second_factor
from tests.passkey_authenticator import SoftAuthenticator
from tests.support import wait_for


def _identity_db(web_system, statement) -> None:
    """A change written in the running system's identity database (SQLite): what the
    clock would do."""
    engine = sa.create_engine(f"sqlite:///{web_system.data_dir / 'identity.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(statement)
    finally:
        engine.dispose()


def _reset_link(web_system, address: str) -> str | None:
    """The reset link mailed to `address` (PP_DATA_DIR/mail/*.eml), None while none."""
    for path in sorted(web_system.mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address not in str(message["To"]):
            continue
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                found = re.search(r"(\S+/reset-password\?token=\S+)", part.get_content())
                if found:
                    return found.group(1)
    return None


def test_a_reset_says_the_passkeys_went_and_they_sign_nobody_in(web_system, open_page):
    """Removing a passkey asks for the password, as adding one does. A parent who fears
    someone got in resets the password: the confirmation says every device is signed out
    and the passkeys removed, to add again; the one the browser holds signs nobody in."""
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    web_system.activate(family.parent_email, PASSWORD)
    page = open_page(name="reset")
    virtual_authenticator(page)
    page.goto(local(web_system))
    sign_in_with_password(page, family.parent_email, PASSWORD)
    expect(page_heading(page)).to_have_text("Your children")
    section = add_passkey(page, "My laptop", PASSWORD)
    # Removing it asks for the password as adding did (this sign-in is the password's).
    section.get_by_role("button", name="Remove passkey My laptop").click()
    expect(section.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
    expect(section).to_contain_text("Enter your password to remove a passkey.")
    expect(section.get_by_role("list", name="Your passkeys")).to_contain_text("My laptop")
    sign_out(page)

    assert web_system.call("post", "/api/v1/auth/password-reset",
                           json={"email": family.parent_email}).status_code == 202
    link = wait_for(lambda: _reset_link(web_system, family.parent_email), timeout=60,
                    interval=0.1, message="the reset mail")
    page.goto(local(web_system, "/reset-password?" + link.split("?", 1)[1]))
    page.get_by_label("Choose a password").fill("a-new-parent-password-2")
    page.get_by_label("Repeat the password").fill("a-new-parent-password-2")
    page.get_by_role("button", name="Set the password").click()
    expect(page_heading(page)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_contain_text("your passkeys are removed")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_text("This passkey could not sign you in")).to_be_visible()
    no_script_errors(page)


def test_a_sign_in_past_its_lifetime_signs_out_saying_why(web_system, open_page):
    from services.identity.models import refresh_tokens
    school = web_system.create_school()
    page = open_page(name="lifetime")
    page.goto(web_system.url())
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(page)).to_have_text("Subject requests")
    _identity_db(web_system, refresh_tokens.update().where(
        refresh_tokens.c.account_id == second_factor.account_of(school.admin_token)).values(
        sign_in_ends_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    page.reload()  # the access token was the page's: the next comes from a refresh
    expect(page_heading(page)).to_have_text("Sign in")
    expect(page.get_by_text("You have been signed in for as long as a sign-in lasts")
           ).to_have_count(1)
    no_script_errors(page)


def test_a_refresh_in_flight_during_a_passkey_step_up_does_not_undo_it(web_system,
                                                                       open_page):
    """The old sign-in's refresh is held by the network until the step-up has replaced
    the sign-in (and signed the old one out): its answer, a refusal, must not sign the
    tab out, nor may old tokens overwrite the new ones."""
    school = web_system.create_school()
    page = open_page(name="step-up-race")
    virtual_authenticator(page)
    page.goto(local(web_system))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    add_passkey(page, "Work laptop")
    # A second passkey, added through the API with the admin's fresh code: the one the
    # step-up's action removes (removing the laptop's would end the new sign-in anyway).
    origin = local(web_system).rstrip("/")
    begun = web_system.call("post", "/api/v1/auth/passkeys/registration",
                            school.admin_token, json={}).json()
    assert web_system.call("post", "/api/v1/auth/passkeys", school.admin_token, json={
        "challenge_id": begun["challenge_id"], "name": "Old key",
        "credential": SoftAuthenticator(origin).create(begun["options"])}).status_code == 201
    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page_heading(page)).to_have_text("Subject requests")
    _age_second_factor(web_system, second_factor.account_of(school.admin_token))
    page.reload()
    main_nav(page, "Account").click()
    section = page.get_by_role("region", name="Passkeys")
    expect(section.get_by_role("button", name="Remove passkey Old key")).to_be_visible()

    held = []

    def hold_the_first_refresh(route):
        if not held and '"refresh_token"' in (route.request.post_data or ""):
            held.append(route)  # answered only once the step-up is over
        else:
            route.continue_()
    page.route("**/api/v1/auth/token", hold_the_first_refresh)
    with page.expect_request("**/api/v1/auth/token"):
        page.evaluate("() => { import('/assets/api.js').then((api) => api.signInStands()); }")

    section.get_by_role("button", name="Remove passkey Old key").click()
    dialog = page.get_by_role("dialog", name="Enter your code again")
    dialog.get_by_role("button", name="Use a passkey instead").click()
    expect(page.get_by_role("status")).to_contain_text('Passkey "Old key" removed')
    assert len(held) == 1
    with page.expect_response("**/api/v1/auth/token") as answered:
        held[0].continue_()  # the old sign-in's refresh, after it was signed out
    assert answered.value.status == 401
    page.unroute("**/api/v1/auth/token")

    page.reload()  # the refresh token kept is the step-up's, which still stands
    expect(page_heading(page)).to_have_text("Account settings")
    expect(page.get_by_role("region", name="Passkeys")).to_contain_text("Work laptop")
    no_script_errors(page)

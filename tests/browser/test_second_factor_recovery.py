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


def _another_operator(web_system, name) -> tuple[str, str]:
    """A second operator's login, written in the running system's identity database (as
    the bootstrap writes the first), with its app set up at a first sign-in (API)."""
    import datetime as dt

    import sqlalchemy as sa

    from services.identity.domain import password_hasher
    from services.identity.models import accounts
    email = f"ops-{uuid.uuid4().hex[:8]}@browser-tests.example"
    password = "operator-secret-" + uuid.uuid4().hex[:6]
    now = dt.datetime.now(dt.timezone.utc)
    engine = sa.create_engine(f"sqlite:///{web_system.data_dir / 'identity.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(accounts.insert().values(
                id=str(uuid.uuid4()), email=email, name=name, kind="operator",
                password_hash=password_hasher().hash(password), status="active",
                created_at=now, activated_at=now))
    finally:
        engine.dispose()
    web_system.sign_in(email, password)
    return email, password


OPERATORS = "Two-step sign-in of the operators"


def _operator_row(region, name):
    table_ = region.get_by_role("table", name="Operators' two-step sign-in")
    return table_.get_by_role("row").filter(has=region.page.get_by_role("rowheader",
                                                                         name=name))


def test_an_operator_resets_another_operators_two_step_sign_in(web_system, page, open_page):
    """The operator console's "Two-step sign-in": every operator and their state, a reset
    of another's (never one's own) that asks for the code again when the operator's is
    over 15 minutes old, a confirmation, and the operators' record of resets by name."""
    from tests import second_factor
    from tests.browser.test_second_factor import _age_second_factor
    name = f"Olu Operator {uuid.uuid4().hex[:4]}"
    other, password = _another_operator(web_system, name)
    page.goto(web_system.url("/two-step"))
    web_system.staff_signs_in(page, *web_system.operator)
    expect(page_heading(page)).to_have_text("Two-step sign-in")
    region = page.get_by_role("region", name=OPERATORS)
    expect(_operator_row(region, name)).to_contain_text("Set up on")
    me = web_system.operator[0]  # the bootstrap operator is named "Operator": by email
    expect(_operator_row(region, me)).to_contain_text("You (change yours below)")
    expect(region.get_by_role("button", name="Reset two-step sign-in for Operator",
                              exact=True)).to_have_count(0)  # never one's own
    expect(page.get_by_role("region", name="Your two-step sign-in")).to_be_visible()
    screenshot(page, "operators-two-step")
    assert_accessible(page, name="axe-operators-two-step")

    # The operator's code is over 15 minutes old: the reset asks for it again first.
    _age_second_factor(web_system, second_factor.account_of(web_system.operator_token()))
    page.reload()
    region = page.get_by_role("region", name=OPERATORS)
    region.get_by_role("button", name=f"Reset two-step sign-in for {name}").click()
    confirm = page.get_by_role("group", name="Confirm the reset")
    expect(confirm).to_contain_text("recovery codes and passkeys stop working")
    screenshot(page, "operators-two-step-confirm")
    assert_accessible(page, name="axe-operators-two-step-confirm")
    confirm.get_by_role("button", name=f"Yes, reset {name}'s two-step sign-in").click()
    dialog = page.get_by_role("dialog", name="Enter your code again")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Code", exact=True).fill(second_factor.code_for(web_system.operator[0]))
    dialog.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name}'s two-step sign-in was reset")
    expect(_operator_row(region, name)).to_contain_text("Not set up")
    expect(_operator_row(region, name)).to_contain_text("Nothing to reset")
    resets = page.get_by_role("table", name="Two-step sign-in resets")
    expect(resets.get_by_role("row").nth(1).get_by_role("rowheader")).to_have_text(name)
    expect(resets.get_by_role("row").nth(1).get_by_role("cell").nth(1)).to_have_text(
        "Operator")  # by whom, by name
    screenshot(page, "operators-two-step-reset")
    assert_accessible(page, name="axe-operators-two-step-reset")
    no_script_errors(page)
    # The reset operator's next sign-in sets the app up again.
    answer = web_system.call("post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": other, "password": password})
    assert answer.json()["second_factor"] == "enrol"

    # On a phone: nothing wider than the screen.
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/two-step"))
    web_system.staff_signs_in(phone, *web_system.operator)
    expect(phone.get_by_role("region", name=OPERATORS)).to_be_visible()
    expect(phone.get_by_role("table", name="Two-step sign-in resets")).to_be_visible()
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(phone, "operators-two-step-phone")
    assert_accessible(phone, name="axe-operators-two-step-phone")
    no_script_errors(phone)


def _passkey_only(web_system, email) -> None:
    """As if this admin's only second factor were a passkey (added as the admin, with the
    app passed: one added while a parent would not count for staff): its app and recovery
    codes gone, a staff-grade passkey kept, in the running system's identity database."""
    import datetime as dt

    import sqlalchemy as sa

    from services.identity.models import accounts, passkeys, recovery_codes, second_factors
    engine = sa.create_engine(f"sqlite:///{web_system.data_dir / 'identity.db'}")
    try:
        with engine.begin() as conn:
            account = conn.execute(sa.select(accounts.c.id).where(
                accounts.c.email == email)).scalar_one()
            for table_ in (second_factors, recovery_codes):
                conn.execute(table_.delete().where(table_.c.account_id == account))
            conn.execute(passkeys.insert().values(
                id=str(uuid.uuid4()), account_id=account, credential_id=uuid.uuid4().hex,
                public_key=b"\x00", sign_count=0, name="Phone", staff_grade=True,
                created_at=dt.datetime.now(dt.timezone.utc)))
    finally:
        engine.dispose()


def test_a_passkey_only_admins_password_sets_up_no_app(web_system, page, open_page):
    """A school admin whose only second factor is a passkey: the password alone leads to
    "Sign in with your passkey", never to setting up an app; another admin sees the
    passkey in the list and can reset it."""
    school = web_system.create_school()
    backup = _second_admin(web_system, school, name="Cai Passkey")
    web_system.sign_in(backup, ADMIN_PASSWORD)  # its app set up, then taken away:
    _passkey_only(web_system, backup)
    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/"))
    phone.get_by_label("Email").fill(backup)
    phone.get_by_label("Password").fill(ADMIN_PASSWORD)
    phone.get_by_role("button", name="Sign in", exact=True).click()
    expect(page_heading(phone)).to_have_text("Sign in with your passkey")
    expect(phone.get_by_role("img", name="QR code of your sign-in key, for your "
                                       "authenticator app")).to_have_count(0)
    expect(main_nav(phone, "Sign in")).to_have_count(0)
    screenshot(phone, "passkey-only-password")
    assert_accessible(phone, name="axe-passkey-only-password")
    phone.goto(web_system.url("/two-step"))  # no way round it by address
    expect(page_heading(phone)).to_have_text("Sign in with your passkey")
    no_script_errors(phone)

    page.goto(web_system.url("/two-step"))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    region = page.get_by_role("region", name=REGION)
    expect(_row(region, "Cai Passkey")).to_contain_text("1 passkey")
    region.get_by_role("button", name="Reset two-step sign-in for Cai Passkey").click()
    page.get_by_role("group", name="Confirm the reset").get_by_role(
        "button", name="Yes, reset Cai Passkey's two-step sign-in").click()
    expect(page.get_by_role("status")).to_contain_text("Cai Passkey's two-step sign-in was reset")
    expect(_row(region, "Cai Passkey")).to_contain_text("Nothing to reset")
    screenshot(page, "passkey-only-reset")
    assert_accessible(page, name="axe-passkey-only-reset")
    no_script_errors(page)

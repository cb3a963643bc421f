"""Issue 24, "a date of birth cannot be mistyped by locale": day, month and year fields (the
GOV.UK date input pattern), not a browser date picker whose order follows the locale; a
malformed date is refused beside the field, once, saying what was expected, and costs no
attempt. Chromium, axe, screenshots (desktop and phone)."""
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import (assert_accessible, family_events, fill_date,
                                   no_script_errors, screenshot)

PASSWORD = "a-parent-password-1"


def _sign_in(page, address):
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _type(group, day="", month="", year=""):
    group.get_by_label("Day").fill(day)
    group.get_by_label("Month").fill(month)
    group.get_by_label("Year").fill(year)


def test_a_date_of_birth_is_day_month_and_year_and_a_malformed_one_costs_no_attempt(
        web_system, open_page):
    school = web_system.create_school()
    family = family_events(children=1)
    (kid,) = family.children
    web_system.push(school, family.events)
    web_system.activate(family.parent_email, PASSWORD)
    page = open_page(name="desktop")
    page.goto(web_system.url("/children"))
    _sign_in(page, family.parent_email)
    child = page.get_by_role("region", name=kid.name)
    group = child.get_by_role("group", name="Date of birth")
    expect(group).to_contain_text("for example, 27 3 2014")
    assert child.locator("input[type=date]").count() == 0  # no locale-ordered picker
    confirm = child.get_by_role("button", name="Confirm")
    errors = page.locator(".field-error:visible, .alert:visible, .form-error:visible")

    for typed, expected in [
            ({}, "Enter the date of birth, for example, 27 3 2014."),
            ({"day": "12", "year": "2014"}, "The date of birth must include a month."),
            ({"day": "31", "month": "2", "year": "2014"},
             "The date of birth must be a real date: that month has no day 31."),
            ({"day": "12", "month": "13", "year": "2014"}, "The month must be from 1 to 12"),
            ({"day": "12", "month": "4", "year": "14"}, "The year must have 4 numbers"),
            ({"day": "12", "month": "April", "year": "2014"}, "The month must be a number")]:
        _type(group, **typed)
        confirm.click()
        expect(group).to_contain_text(expected)
        expect(errors).to_have_count(1)  # once, next to the field
        if typed == {"day": "31", "month": "2", "year": "2014"}:
            expect(group.get_by_label("Day")).to_have_attribute("aria-invalid", "true")
            expect(group.get_by_label("Day")).to_be_focused()
            screenshot(page, "not-a-real-date")
            assert_accessible(page, name="axe-not-a-real-date")

    # None of those cost an attempt: a real but wrong date still has 2 left after it.
    fill_date(child, "2011-11-11")
    confirm.click()
    expect(group).to_contain_text("That is not the date of birth the school has. "
                                  "2 attempts left.")
    expect(errors).to_have_count(1)

    phone = open_page(viewport=PHONE, name="phone")
    phone.goto(web_system.url("/children"))
    _sign_in(phone, family.parent_email)
    on_phone = phone.get_by_role("region", name=kid.name)
    _type(on_phone.get_by_role("group", name="Date of birth"), day="12")
    on_phone.get_by_role("button", name="Confirm").click()
    expect(on_phone).to_contain_text("The date of birth must include a month and a year.")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "date-of-birth-phone")
    assert_accessible(phone, name="axe-date-of-birth-phone")

    fill_date(child, kid.date_of_birth)  # day 12, month 4: the order is on the page
    confirm.click()
    expect(child.get_by_text("Confirmed")).to_be_visible()
    no_script_errors(page)

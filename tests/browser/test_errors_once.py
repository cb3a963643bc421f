"""Issue 24, "errors appear once, next to the field": choosing a password on the activation
screen (and the reset screen, the same form), a mistake is shown once, beside the field it
is about, never again in the page's alert box or the form's message. Chromium, axe and a
screenshot."""
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.support import assert_accessible, family_events, screenshot


def test_a_password_mistake_is_shown_once_next_to_its_field(web_system, open_page):
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    page = open_page(viewport=PHONE, name="phone")
    page.goto(web_system.invitation_link(family.parent_email))
    errors = page.locator(".field-error:visible, .alert:visible, .form-error:visible")
    password, repeat = page.get_by_label("Choose a password"), page.get_by_label(
        "Repeat the password")
    activate = page.get_by_role("button", name="Activate")
    for typed, again, field, message in (
            ("short", "short", password, "The password needs at least 10 characters."),
            ("a-parent-password-1", "a-parent-password-2", repeat,
             "The two passwords are not the same."),
            ("aaaaaaaaaaaa", "aaaaaaaaaaaa", password, "too easy to guess")):  # the API's
        password.fill(typed)
        repeat.fill(again)
        activate.click()
        expect(errors).to_have_count(1)
        expect(errors).to_contain_text(message)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_be_focused()
        # Next to its field: the error is what the field's description points at.
        described = field.get_attribute("aria-describedby") or ""
        assert errors.first.get_attribute("id") in described.split()
    screenshot(page, "weak-password-once")
    assert_accessible(page, name="axe-weak-password-once")

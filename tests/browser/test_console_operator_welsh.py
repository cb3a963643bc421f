"""The operator's console in Cymraeg (issue 29) in Debian's headless chromium: an operator
(one of their own, so the shared operator keeps English) switches to Welsh and goes through
the schools, adding a school (the form's errors), a school's page, the privacy notice and
two-step sign-in, on a desktop and on a phone: every text from the catalogues (nothing
left in English), <html lang="cy">, the switcher naming each language in its own, and axe
finding nothing serious. Screenshots are kept as artefacts."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.support import assert_accessible, no_script_errors, page_heading, screenshot
from tests.browser.test_second_factor_recovery import _another_operator

SIZES = {"desktop": DESKTOP, "phone": PHONE}
# English words of the console's screens that must not be left on a Welsh one.
ENGLISH = re.compile(r"\b(Schools|School|Authorisation|Offboard\w*|Credentials|Settings|"
                     r"Invite|Administrators?|Version|Publish\w*|Revoke|Reset|Operators?|"
                     r"fields to complete|Add a school)\b")


def _nav(page, name):
    return page.get_by_role("navigation", name="Prif ddewislen").get_by_role(
        "link", name=name, exact=True)


def _step(page, name, size):
    expect(page.locator("html")).to_have_attribute("lang", "cy")
    # The words of the screen, less the data in its tables (names of schools and people
    # other tests made) but with the tables' captions and headers.
    main = page.evaluate("""() => {
      const copy = document.querySelector("main").cloneNode(true);
      copy.querySelectorAll("tbody").forEach((body) => body.remove());
      return copy.innerText; }""")
    assert not ENGLISH.search(main), f"English left on {name}: {ENGLISH.search(main)}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    screenshot(page, f"{name}-{size}")
    assert_accessible(page, name=f"axe-{name}-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_the_operator_console_in_welsh(web_system, open_page, size):
    name = f"Ysgol Gymraeg {uuid.uuid4().hex[:6]}"
    school = web_system.create_school(name)
    email, password = _another_operator(web_system, f"Gwen Gweithredwr {size}")
    page = open_page(viewport=SIZES[size], name=size)
    page.goto(web_system.url("/schools"))
    web_system.staff_signs_in(page, email, password)
    expect(page_heading(page)).to_have_text("Schools")
    page.get_by_role("button", name="Cymraeg").click()
    expect(page.locator("html")).to_have_attribute("lang", "cy")
    # The switcher names each language in itself: English marked as English.
    expect(page.get_by_role("button", name="English")).to_have_attribute("lang", "en")

    expect(page_heading(page)).to_have_text("Ysgolion")
    expect(_nav(page, "Ysgolion")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("table", name="Ysgolion a'u hawdurdodiad")).to_contain_text(
        name)
    _step(page, "schools", size)

    page.get_by_role("link", name="Ychwanegu ysgol").click()
    expect(page_heading(page)).to_have_text("Ychwanegu ysgol")
    page.get_by_role("button", name="Ychwanegu'r ysgol").click()  # nothing filled in
    expect(page.get_by_role("alert")).to_contain_text("4 maes i'w cwblhau.")
    expect(page.get_by_label("Enw'r ysgol")).to_be_focused()
    expect(page.get_by_role("group", name="Awdurdodiad yr ysgol")).to_be_visible()
    _step(page, "add-school-errors", size)

    page.goto(web_system.url(f"/schools/{school.id}"))
    expect(page_heading(page)).to_have_text(name)
    for region in ("Gosodiadau", "Gweinyddwyr yr ysgol", "Tystlythyrau system yr ysgol",
                   "Datgofrestru", "Mewngofnodi dau gam gweinyddwyr yr ysgol"):
        expect(page.get_by_role("region", name=region, exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Rhestr o weinyddwyr yr ysgol")).to_contain_text(
        "Yn weithredol ers")
    expect(page.get_by_role("button", name=f"Datgofrestru’r ysgol: {name}")
           ).to_be_visible()
    _step(page, "school", size)

    _nav(page, "Hysbysiad preifatrwydd").click()
    expect(page_heading(page)).to_have_text("Hysbysiad preifatrwydd")
    expect(page.get_by_role("region", name="Cyhoeddi fersiwn newydd")).to_be_visible()
    expect(page.get_by_label("Testun yr hysbysiad")).to_be_visible()
    _step(page, "privacy-notice", size)

    _nav(page, "Mewngofnodi dau gam").click()
    expect(page_heading(page)).to_have_text("Mewngofnodi dau gam")
    operators = page.get_by_role("region", name="Mewngofnodi dau gam y gweithredwyr")
    expect(operators.get_by_role("table", name="Mewngofnodi dau gam pob gweithredwr")
           ).to_contain_text("Gosodwyd ar")
    _step(page, "two-step", size)
    no_script_errors(page)

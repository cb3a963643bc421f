"""Cymraeg (issue 29) in Debian's headless chromium: a parent's journey in Welsh from the
invitation to a report and a request, the school admin's request screens in Welsh, on a
desktop and on a phone, with axe finding nothing serious; switching language keeps the
person where they were (same address, what they typed); <html lang> follows the language
and the switcher names each language in itself. Screenshots are kept as artefacts."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.support import (
    ADMIN_PASSWORD, assert_accessible, family_events, no_script_errors, page_heading, screenshot)
from tests.support import wait_for

PASSWORD = "cyfrinair-rhiant-1"
SIZES = {"desktop": DESKTOP, "phone": PHONE}
# A date in Welsh: "6 Rhagfyr 2026" (Intl, or the catalogue's months where chromium has no
# Welsh date data), "… am 18:19" with a time.
WELSH_DATE = re.compile(r"\d{1,2} (Ionawr|Chwefror|Mawrth|Ebrill|Mai|Mehefin|Gorffennaf|Awst|"
                        r"Medi|Hydref|Tachwedd|Rhagfyr) \d{4}")


def _cymraeg(page):
    page.get_by_role("button", name="Cymraeg").click()
    expect(page.locator("html")).to_have_attribute("lang", "cy")


def _nav(page, name):
    """A link of the main navigation, in Welsh ("Prif ddewislen")."""
    return page.get_by_role("navigation", name="Prif ddewislen").get_by_role(
        "link", name=name, exact=True)


def _dyddiad(within, iso_date):
    """The date of birth's day, month and year, as their Welsh labels name them."""
    year, month, day = iso_date.split("-")
    group = within.get_by_role("group", name="Dyddiad geni")
    group.get_by_label("Diwrnod").fill(str(int(day)))
    group.get_by_label("Mis").fill(str(int(month)))
    group.get_by_label("Blwyddyn").fill(year)


def _fits(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def _step(page, name, size):
    screenshot(page, f"{name}-{size}")
    assert_accessible(page, name=f"axe-{name}-{size}")
    _fits(page)


@pytest.mark.parametrize("size", SIZES)
def test_a_parent_activates_confirms_reads_and_asks_in_welsh(web_system, open_page, size):
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=1, title="Adroddiad yr hydref")
    (kid,) = family.children
    page = open_page(viewport=SIZES[size], name=size)
    page.goto(web_system.invitation_link(family.parent_email))
    expect(page_heading(page)).to_have_text("Activate your account")
    expect(page.locator("html")).to_have_attribute("lang", "en-GB")
    page.get_by_label("Choose a password").fill(PASSWORD)  # kept through the switch
    page.get_by_label("Cymraeg", exact=True).check()  # the language offered at activation
    expect(page_heading(page)).to_have_text("Actifadwch eich cyfrif")
    expect(page.locator("html")).to_have_attribute("lang", "cy")
    expect(page.get_by_label("Dewiswch gyfrinair")).to_have_value(PASSWORD)
    expect(page.get_by_label("Cymraeg", exact=True)).to_be_focused()
    expect(page.get_by_role("button", name="Cymraeg")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Cymraeg")).to_have_attribute("lang", "cy")
    expect(page.get_by_role("button", name="English")).to_have_attribute("lang", "en")
    _step(page, "activate", size)
    page.get_by_label("Teipiwch y cyfrinair eto").fill(PASSWORD)
    page.get_by_role("button", name="Actifadu").click()
    expect(page_heading(page)).to_have_text("Mewngofnodi")
    expect(page.get_by_role("status")).to_contain_text("Mae eich cyfrif wedi'i actifadu")
    _step(page, "sign-in", size)

    page.get_by_label("E-bost").fill(family.parent_email)
    page.get_by_label("Cyfrinair").fill(PASSWORD)
    page.get_by_role("button", name="Mewngofnodi", exact=True).click()
    expect(page_heading(page)).to_have_text("Eich plant")
    child = page.get_by_role("region", name=kid.name)
    _dyddiad(child, "2010-01-01")
    child.get_by_role("button", name="Cadarnhau").click()
    # Welsh plural rules: 2 is "two", and "cynnig" takes its soft mutation after it.
    expect(child.get_by_text("Mae 2 gynnig ar ôl.")).to_be_visible()
    _step(page, "wrong-date-of-birth", size)
    _dyddiad(child, kid.date_of_birth)
    child.get_by_role("button", name="Cadarnhau").click()
    expect(child.get_by_text("Wedi'i gadarnhau")).to_be_visible()
    _step(page, "children", size)

    _nav(page, "Adroddiadau").click()
    expect(page_heading(page)).to_have_text(f"Adroddiadau {kid.name}")
    meta = page.get_by_role("main").locator(".report-list .meta").first
    expect(meta).to_contain_text("cyhoeddwyd")
    expect(meta).to_contain_text(WELSH_DATE)
    _step(page, "reports", size)
    page.get_by_role("link", name="Adroddiad yr hydref", exact=True).click()
    expect(page.get_by_role("heading", name="Cyrhaeddiad o'i gymharu â'r targed")).to_be_visible()
    expect(page.get_by_role("table", name="Graddau o'u cymharu â thargedau, fesul pwnc")
           ).to_contain_text("Islaw'r targed")
    _step(page, "report", size)

    _nav(page, "Ceisiadau").click()
    expect(page_heading(page)).to_have_text("Eich ceisiadau")
    page.get_by_role("button", name="Gofyn am fy nata", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Mae eich cais wedi'i anfon at yr ysgol")
    filed = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="Copi o'ch data"))
    expect(filed).to_contain_text("Yn aros am yr ysgol")
    _step(page, "requests", size)
    filed.get_by_role("link", name="Copi o'ch data").click()
    expect(page.get_by_role("main")).to_contain_text("diwrnod ar ôl")
    _step(page, "request", size)

    _nav(page, "Sut rydyn ni'n cadw eich data'n ddiogel").click()
    expect(page_heading(page)).to_have_text("Sut rydyn ni'n cadw eich data'n ddiogel")
    _step(page, "privacy", size)
    no_script_errors(page)


def test_the_language_chosen_is_kept_and_switching_keeps_the_place(web_system, page):
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    web_system.activate(family.parent_email, PASSWORD)
    page.goto(web_system.url("/forgot-password"))
    page.get_by_label("Email").fill(family.parent_email)
    _cymraeg(page)
    expect(page).to_have_url(re.compile(r"/forgot-password$"))  # the same screen
    expect(page_heading(page)).to_have_text("Wedi anghofio eich cyfrinair?")
    expect(page.get_by_label("E-bost")).to_have_value(family.parent_email)  # what was typed
    expect(page.get_by_role("button", name="Cymraeg")).to_be_focused()
    page.reload()  # kept on the device before signing in
    expect(page_heading(page)).to_have_text("Wedi anghofio eich cyfrinair?")
    expect(page.get_by_role("link", name="Skip to content")).to_have_count(0)
    expect(page.get_by_role("link", name="Neidio i'r cynnwys")).to_have_count(1)

    page.goto(web_system.url("/privacy"))
    page.get_by_role("button", name="English").click()
    expect(page).to_have_url(re.compile(r"/privacy$"))
    expect(page_heading(page)).to_have_text("How we keep your data safe")
    expect(page.locator("html")).to_have_attribute("lang", "en-GB")
    no_script_errors(page)


def test_every_api_call_says_the_language(web_system, page):
    languages = []
    page.on("request", lambda r: r.url.startswith(web_system.url("/api/"))
            and languages.append(r.headers.get("accept-language")))
    page.goto(web_system.url("/privacy"))
    expect(page_heading(page)).to_have_text("How we keep your data safe")
    _cymraeg(page)
    expect(page_heading(page)).to_have_text("Sut rydyn ni'n cadw eich data'n ddiogel")
    wait_for(lambda: "cy" in languages, timeout=10, message="a call in Welsh")
    assert languages[0] == "en" and set(languages) == {"en", "cy"}, languages


@pytest.mark.parametrize("size", SIZES)
def test_the_school_admin_decides_a_request_in_welsh(web_system, open_page, size):
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    token = web_system.activate(family.parent_email, PASSWORD)
    yourself = wait_for(lambda: next((s for s in web_system.call(
        "get", "/api/v1/subject-requests/subjects", token).json()["items"]
        if s["yourself"]), None), timeout=60, interval=0.2, message="the parent's own record")
    filed = web_system.call("post", "/api/v1/subject-requests", token, json={
        "kind": "access", "subject": {"type": yourself["type"], "id": yourself["id"]}})
    assert filed.status_code == 201, filed.text

    page = open_page(viewport=SIZES[size], name=size)
    page.goto(web_system.url("/"))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(page)).to_have_text("Subject requests")
    _cymraeg(page)
    expect(page).to_have_url(re.compile(r"/requests$"))
    expect(page_heading(page)).to_have_text("Ceisiadau gwrthrych data")
    row = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="Cais: Mynediad at ddata"))
    expect(row).to_contain_text("Yn aros am eich penderfyniad")
    expect(_nav(page, "Ceisiadau")).to_have_attribute("aria-current", "page")
    _step(page, "admin-requests", size)

    row.get_by_role("link", name="Cais: Mynediad at ddata").click()
    expect(page_heading(page)).to_have_text("Cais: Mynediad at ddata")
    expect(page.get_by_role("main")).to_contain_text("diwrnod ar ôl")
    expect(page.get_by_role("main")).to_contain_text(WELSH_DATE)
    expect(page.get_by_role("main")).to_contain_text(re.compile(r" am \d\d:\d\d"))
    trail = page.get_by_role("table", name="Pob cam yn y cais hwn, yn eu trefn")
    expect(trail.get_by_role("row", name=re.compile("Derbyniwyd"))).to_have_count(1)
    _step(page, "admin-request", size)
    address = page.url
    page.get_by_role("button", name="English").click()  # and back: the same request
    expect(page_heading(page)).to_have_text("Access to data request")
    assert page.url == address
    _cymraeg(page)
    page.get_by_role("button", name="Cymeradwyo").click()
    expect(page.get_by_role("status")).to_contain_text("Mae'r cais wedi'i gymeradwyo")
    _step(page, "admin-request-approved", size)

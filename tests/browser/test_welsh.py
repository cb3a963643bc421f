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
# A date in Welsh: "6 Rhagfyr 2026", never "06" (Intl, or the catalogue's months where
# chromium has no Welsh date data), "… am 18:19" with a time.
WELSH_DATE = re.compile(r"(?<!\d)[1-9]\d? (Ionawr|Chwefror|Mawrth|Ebrill|Mai|Mehefin|"
                        r"Gorffennaf|Awst|Medi|Hydref|Tachwedd|Rhagfyr) \d{4}")


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
    expect(page.locator("html")).to_have_attribute("lang", "cy")
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


@pytest.mark.parametrize("size", SIZES)
def test_the_school_admin_publishes_and_reads_links_and_batches_in_welsh(
        web_system, open_page, size):
    """The console's other screens in Welsh: reports and the publishing dialog, a report's
    preview, links and a student's links, school data and a batch; axe, `lang` and no
    sideways scroll on each; switching language keeps the screen and what was typed."""
    school = web_system.create_school()
    family = family_events(children=1)
    (kid,) = family.children
    web_system.push(school, family.events)
    bad = web_system.call("post", "/api/v1/school-data/batches", school.system_token, json={
        "batch_id": "gyda-chamgymeriad", "events": [
            {"type": "student.upserted", "source_id": "S-bad", "data": {
                "given_name": "Neb", "family_name": "Anghywir", "date_of_birth": "2015-02-30",
                "form_group": "7A", "year_group": 7}}]})
    assert bad.status_code == 202 and len(bad.json()["rejected"]) == 1, bad.text
    wait_for(lambda: (web_system.call("get", "/api/v1/reports/periods", school.admin_token)
                      .json()["items"] or [{}])[0].get("students"),
             timeout=60, interval=0.2, message="reports has the period's data")
    page = open_page(viewport=SIZES[size], name=size)
    page.goto(web_system.url("/reports"))
    web_system.staff_signs_in(page, school.admin_email, ADMIN_PASSWORD)
    expect(page_heading(page)).to_have_text("Reports")
    page.get_by_label("Title", exact=True).fill("Adroddiad yr hydref")
    _cymraeg(page)  # the same screen, and the title typed is kept
    expect(page).to_have_url(re.compile(r"/reports$"))
    expect(page.locator("#status")).not_to_contain_text("You are signed in")  # no English left
    expect(page_heading(page)).to_have_text("Adroddiadau")
    expect(page.get_by_label("Teitl", exact=True)).to_have_value("Adroddiad yr hydref")
    expect(page.get_by_label("Cyfnod", exact=True)).to_contain_text("1 disgybl gyda data")
    _step(page, "admin-reports", size)

    page.get_by_role("button", name="Cyhoeddi", exact=True).click()
    expect(page.get_by_role("heading", name="Gwiriwch cyn cyhoeddi")).to_be_focused()
    expect(page.get_by_text("Mae hyn yn cyhoeddi 1 adroddiad ar gyfer")).to_be_visible()
    # No parent has confirmed the link yet: Welsh's "zero" plural form.
    expect(page.get_by_text("Bydd 0 rhiant â chysylltiad wedi'i gadarnhau yn cael e-bost nawr")
           ).to_be_visible()
    _step(page, "admin-publish-dialog", size)
    page.get_by_role("button", name="Ydw, cyhoeddi 1 adroddiad").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Cyhoeddwyd 1 adroddiad ar gyfer {family.period}. Gall rhieni eu gweld nawr.")
    published = page.get_by_role("table", name="Adroddiadau, y mwyaf diweddar yn gyntaf")
    row = published.get_by_role("row", name=re.compile("Adroddiad yr hydref"))
    expect(row).to_contain_text("Yn weladwy ers")
    expect(row).to_contain_text(WELSH_DATE)
    _step(page, "admin-reports-published", size)
    row.get_by_role("link", name=f"Rhagweld yr adroddiad ar gyfer {kid.name}").click()
    expect(page_heading(page)).to_have_text("Adroddiad yr hydref")
    expect(page.get_by_role("region", name="Cywiro'r adroddiad hwn neu ei dynnu'n ôl")
           ).to_be_visible()
    _step(page, "admin-report-preview", size)

    _nav(page, "Cysylltiadau").click()
    expect(page_heading(page)).to_have_text("Cysylltiadau rhwng rhieni a phlant")
    student = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=kid.name))
    expect(student).to_contain_text("1 yn aros am y rhiant")
    _step(page, "admin-links", size)
    student.get_by_role("link", name=kid.name).click()
    expect(page_heading(page)).to_have_text(f"Cysylltiadau ar gyfer {kid.name}")
    expect(page.get_by_role("main")).to_contain_text("Heb ei actifadu eto")
    expect(page.get_by_role("button", name="Dirymu")).to_have_count(1)
    _step(page, "admin-student-links", size)

    _nav(page, "Data'r ysgol").click()
    expect(page_heading(page)).to_have_text("Data'r ysgol")
    batches = page.get_by_role("table", name="Sypiau, y mwyaf diweddar yn gyntaf")
    expect(batches.get_by_role("link").first).to_contain_text(WELSH_DATE)
    expect(page.get_by_role("region", name="Uwchlwytho bwndel OneRoster")).to_be_visible()
    _step(page, "admin-school-data", size)
    batches.get_by_role("link", name=re.compile("gyda-chamgymeriad")).click()
    expect(page_heading(page)).to_have_text(re.compile(r"^Swp a dderbyniwyd \d"))
    rejected = page.get_by_role("table", name="Digwyddiadau a wrthodwyd, a pham")
    reason = rejected.get_by_role("row", name=re.compile(r"^0 ")).get_by_role("cell").last
    # The reason in Welsh (ingest translates it as it is read), the field named as sent
    expect(reason).to_contain_text("data.date_of_birth: Nid yw'n ddyddiad go iawn")
    expect(reason).not_to_have_attribute("lang", "en")
    _step(page, "admin-batch", size)
    address = page.url
    page.get_by_role("button", name="English").click()  # the same batch, in English
    expect(page_heading(page)).to_have_text(re.compile(r"^Batch received \d"))
    expect(page.locator("html")).to_have_attribute("lang", "en-GB")
    expect(page.get_by_role("table", name=re.compile("^Rejected events")).get_by_role(
        "row", name=re.compile(r"^0 ")).get_by_role("cell").last).to_contain_text(
        "data.date_of_birth: Not a real date")
    assert page.url == address
    no_script_errors(page)


def test_children_are_in_the_welsh_alphabets_order_in_welsh(web_system, page):
    """One order of children on every screen, by the collation of the language chosen: in
    Welsh "ll" is a letter after "l" (Lowri before Llinos), in English Llinos comes first."""
    school = web_system.create_school()
    family = family_events(children=2)
    names = dict(zip((child.source_id for child in family.children),
                     (("Lowri", "Evans"), ("Llinos", "Jones"))))
    for event in family.events:
        if event["type"] == "student.upserted":
            given, family_name = names[event["source_id"]]
            event["data"].update(given_name=given, family_name=family_name)
    for child in family.children:
        child.name = " ".join(names[child.source_id])
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=2)
    token = web_system.activate(family.parent_email, PASSWORD)
    born = {child.name: child.date_of_birth for child in family.children}
    for link in web_system.links(token, count=2):
        answer = web_system.call("post", f"/api/v1/links/{link['id']}/verify", token,
                                 json={"date_of_birth": born[link["student"]["name"]]})
        assert answer.status_code == 200, answer.text
    for link in web_system.links(token, count=2):  # reports has learnt of each link
        web_system.reports_of(token, link["student"]["id"])
    english, welsh = ["Llinos Jones", "Lowri Evans"], ["Lowri Evans", "Llinos Jones"]

    page.goto(web_system.url("/sign-in"))
    page.get_by_label("Email").fill(family.parent_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page_heading(page)).to_have_text("Your children")
    cards = page.get_by_role("main").locator("section.card > h2")
    expect(cards).to_have_text(english)
    _cymraeg(page)
    expect(page_heading(page)).to_have_text("Eich plant")
    expect(cards).to_have_text(welsh)
    _nav(page, "Adroddiadau").click()
    expect(page_heading(page)).to_have_text("Adroddiadau Lowri Evans")  # the first child
    expect(page.get_by_role("navigation", name="Dewiswch blentyn").get_by_role("link")
           ).to_have_text(welsh)
    _nav(page, "Ceisiadau").click()
    expect(page.get_by_role("main").locator("section.card > h2").filter(
        has_text=re.compile("^Ynghylch "))).to_have_text([f"Ynghylch {name}" for name in welsh])
    screenshot(page, "children-welsh-order")
    no_script_errors(page)

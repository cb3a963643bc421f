"""Issue 24, "installable on a phone": the web app's manifest (name, theme colour, start_url,
display standalone, icons of 192 and 512 px drawn by shared/app_icons.py) is linked from the
page and Chromium finds it installable; its service worker keeps the app's files, so a
signed-in parent reopens the reports they viewed without a connection, marked "You are
offline — showing the copy saved on <date>"; signing out leaves nothing of theirs in Cache
Storage or IndexedDB, and the next person to sign in on the same browser never gets their
copies. Chromium, axe, screenshots on a desktop and a 390 px phone."""
import json
import re
import struct

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.support import (CHROMIUM, CHROMIUM_ARGS, assert_accessible, family_events,
                                   main_nav, no_script_errors, page_heading, screenshot,
                                   service_worker_in_control)
from tests.support import wait_for

PASSWORD = "a-parent-password-1"
OFFLINE_MARK = re.compile(r"You are offline — showing the copy saved on \d{1,2} \w+ \d{4}")
# What the page may see of the device's storage: every cache's name and every cached
# request's URL, IndexedDB's databases, and sessionStorage's keys.
STORAGE = """async () => {
  const caches_ = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    const entries = [];
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      entries.push({ url: new URL(request.url).pathname, body: await response.clone().text() });
    }
    caches_[name] = entries;
  }
  const databases = indexedDB.databases ? await indexedDB.databases() : [];
  return { caches: caches_, databases: databases.map((d) => d.name),
           session: Object.keys(sessionStorage) };
}"""


def _parent_with_a_report(web_system, title):
    """A school and a parent whose one child is confirmed (through the API), with a report
    published; returns (school, family, report id)."""
    school = web_system.create_school()
    family = family_events(children=1)
    web_system.push(school, family.events)
    web_system.publish(school, family.period, expect=1, title=title)
    token = web_system.activate(family.parent_email, PASSWORD)
    (link,) = web_system.links(token)
    answer = web_system.call("post", f"/api/v1/links/{link['id']}/verify", token,
                             json={"date_of_birth": family.children[0].date_of_birth})
    assert answer.status_code == 200, answer.text
    (report,) = web_system.reports_of(token, link["student"]["id"])
    return school, family, report["id"]


def _sign_in(page, web_system, email):
    page.goto(web_system.url("/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page_heading(page)).to_have_text("Your children")
    # The service worker controls the page once it has kept the app's files.
    service_worker_in_control(page)


def _storage(page):
    return page.evaluate(STORAGE)


def _png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", body[16:24])


def test_the_manifest_is_valid_and_chromium_finds_the_app_installable(
        web_system, playwright_session, tmp_path):
    # A profile on disk: Playwright's usual contexts are off the record, where Chromium
    # installs nothing ("in-incognito"), whatever the app.
    context = playwright_session.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
        headless=True, viewport=DESKTOP, locale="en-GB")
    try:
        page = context.new_page()
        page.console_errors = []
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        _manifest_and_installability(web_system, page)
        screenshot(page, "installable")
    finally:
        context.close()


def _manifest_and_installability(web_system, page):
    page.goto(web_system.url("/sign-in"))
    expect(page_heading(page)).to_have_text("Sign in")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    assert href == "/manifest.webmanifest"
    answer = page.request.get(web_system.url(href))
    assert answer.ok and answer.headers["content-type"] == "application/manifest+json"
    manifest = json.loads(answer.body())
    assert manifest["name"] == "Pupil Progress" and manifest["short_name"]
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == page.locator("meta[name=theme-color]") \
        .get_attribute("content") == "#0b4f8a"
    sizes = set()
    for icon in manifest["icons"]:
        got = page.request.get(web_system.url(icon["src"]))
        assert got.ok and got.headers["content-type"] == "image/png", icon
        width, height = _png_size(got.body())
        assert f"{width}x{height}" == icon["sizes"], icon
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes

    service_worker_in_control(page)
    cdp = page.context.new_cdp_session(page)
    parsed = cdp.send("Page.getAppManifest")
    assert parsed["url"].endswith("/manifest.webmanifest") and parsed["errors"] == [], parsed
    installable = cdp.send("Page.getInstallabilityErrors")
    assert installable["installabilityErrors"] == [], installable
    shell = _storage(page)["caches"]
    assert [name for name in shell if name.startswith("pp-shell-")], shell.keys()
    assert any(entry["url"] == "/assets/app.js" for entries in shell.values() for entry in entries)
    no_script_errors(page)


def test_a_parent_reopens_a_viewed_report_offline_and_signing_out_leaves_nothing(
        web_system, open_page):
    _, family, report_id = _parent_with_a_report(web_system, "Offline progress report")
    child = family.children[0].name
    for viewport, name in ((None, "desktop"), (PHONE, "phone")):
        page = open_page(viewport=viewport, name=name)
        _sign_in(page, web_system, family.parent_email)
        page.get_by_role("link", name="Offline progress report").click()
        expect(page_heading(page)).to_have_text("Offline progress report")
        expect(page.get_by_text(OFFLINE_MARK)).to_have_count(0)  # online: the report itself
        wait_for(lambda: any(e["url"] == f"/offline/reports/{report_id}"
                             for entries in _storage(page)["caches"].values() for e in entries),
                 message="the report's copy kept on the device")

        page.context.set_offline(True)
        page.reload()  # the page and its scripts from the service worker, the report from the copy
        expect(page_heading(page)).to_have_text("Offline progress report")
        expect(page.get_by_text(OFFLINE_MARK)).to_be_visible()
        expect(page.get_by_role("table", name="Grades against targets, by subject")).to_be_visible()
        screenshot(page, f"{name}-offline-report")
        assert_accessible(page, name=f"axe-{name}-offline-report")

        main_nav(page, "Children").click()  # not kept: says so, and lists what is
        expect(page_heading(page)).to_have_text("You are offline")
        expect(page.get_by_role("link", name="Offline progress report")).to_be_visible()
        screenshot(page, f"{name}-offline-elsewhere")
        assert_accessible(page, name=f"axe-{name}-offline-elsewhere")
        page.get_by_role("link", name="Offline progress report").click()
        expect(page.get_by_text(OFFLINE_MARK)).to_be_visible()

        main_nav(page, "Sign out").click()  # still offline: the copies go all the same
        expect(page_heading(page)).to_have_text("Sign in")
        left = _storage(page)
        kept = [entry for entries in left["caches"].values() for entry in entries]
        assert all(name.startswith("pp-shell-") for name in left["caches"]), left["caches"].keys()
        assert not [e["url"] for e in kept if e["url"].startswith(("/offline/", "/api/"))]
        assert not [e["url"] for e in kept if child in e["body"] or report_id in e["body"]]
        assert left["databases"] == [] and not [k for k in left["session"] if k.startswith("pp.")]

        page.context.set_offline(False)
        page.goto(web_system.url(f"/reports/{report_id}"))  # signed out: asks to sign in
        expect(page_heading(page)).to_have_text("Sign in")
        # Offline, the browser logs each request the network refused: nothing else.
        page.console_errors = [e for e in page.console_errors
                               if "net::ERR_INTERNET_DISCONNECTED" not in e]
        no_script_errors(page)


def test_the_next_person_on_the_same_browser_never_gets_the_last_ones_copies(
        web_system, open_page):
    _, first, first_report = _parent_with_a_report(web_system, "First family's report")
    _, second, _ = _parent_with_a_report(web_system, "Second family's report")
    tab = open_page(name="first")
    _sign_in(tab, web_system, first.parent_email)
    tab.get_by_role("link", name="First family's report").click()
    expect(page_heading(tab)).to_have_text("First family's report")
    wait_for(lambda: any(e["url"] == f"/offline/reports/{first_report}"
                         for entries in _storage(tab)["caches"].values() for e in entries),
             message="the first parent's copy kept on the device")
    context = tab.context
    tab.close()  # the first parent leaves without signing out

    page = context.new_page()  # another tab on the same browser: the second parent
    page.console_errors = []
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    _sign_in(page, web_system, second.parent_email)
    left = _storage(page)
    assert not [e for entries in left["caches"].values() for e in entries
                if first.children[0].name in e["body"] or first_report in e["body"]]
    assert [n for n in left["caches"] if n.startswith("pp-reader-")] != []  # the second's own

    context.set_offline(True)
    page.goto(web_system.url(f"/reports/{first_report}"))
    expect(page_heading(page)).to_have_text("You are offline")
    expect(page.get_by_text("First family's report")).to_have_count(0)
    expect(page.get_by_text(first.children[0].name)).to_have_count(0)
    screenshot(page, "second-parent-offline")
    context.set_offline(False)
    page.close()


def _kept(page, report_id) -> bool:
    return any(e["url"] == f"/offline/reports/{report_id}"
               for entries in _storage(page)["caches"].values() for e in entries)


def test_a_withdrawn_reports_copy_goes_when_the_parent_next_opens_it(web_system, page):
    school, family, report_id = _parent_with_a_report(web_system, "Soon withdrawn report")
    _sign_in(page, web_system, family.parent_email)
    page.get_by_role("link", name="Soon withdrawn report").click()
    expect(page_heading(page)).to_have_text("Soon withdrawn report")
    wait_for(lambda: _kept(page, report_id), message="the report's copy kept on the device")

    answer = web_system.call("post", f"/api/v1/reports/{report_id}/withdraw", school.admin_token)
    assert answer.status_code == 200, answer.text
    page.reload()
    expect(page_heading(page)).to_have_text("Report not available")
    assert not _kept(page, report_id)
    page.context.set_offline(True)
    page.reload()
    expect(page_heading(page)).to_have_text("You are offline")
    expect(page.get_by_text("Soon withdrawn report")).to_have_count(0)
    page.context.set_offline(False)

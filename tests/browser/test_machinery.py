"""The helpers journey tests build on: the axe check fails on a serious violation, and the
API helpers set up a parent who can read a published report."""
import pytest

from tests.browser.support import assert_accessible, family_events, screenshot


def test_assert_accessible_fails_on_serious_violations_and_passes_a_clean_page(page):
    page.set_content("<!doctype html><html lang='en'><head><title>Bad</title></head><body>"
                     "<main><h1>Bad</h1><img src='data:,'><button></button></main></body>"
                     "</html>")
    with pytest.raises(AssertionError) as failed:
        assert_accessible(page)
    assert "image-alt" in str(failed.value) and "button-name" in str(failed.value)
    page.set_content("<!doctype html><html lang='en'><head><title>Good</title></head><body>"
                     "<main><h1>Good</h1><img src='data:,' alt='A dot'>"
                     "<button>Go</button></main></body></html>")
    assert_accessible(page)
    assert screenshot(page, "clean").stat().st_size > 0


def test_api_helpers_set_up_a_parent_who_reads_a_report(web_system):
    school = web_system.create_school()
    family = family_events()
    web_system.push(school, family.events)
    link = web_system.invitation_link(family.parent_email)
    assert link.startswith(web_system.base_url + "/activate?token=")
    parent = web_system.activate(family.parent_email, "a-parent-password-1")
    links = web_system.links(parent, count=2)
    first = next(item for item in links
                 if item["student"]["name"] == family.children[0].name)
    verified = web_system.call("post", f"/api/v1/links/{first['id']}/verify", parent,
                               json={"date_of_birth": family.children[0].date_of_birth})
    assert verified.status_code == 200, verified.text
    assert web_system.publish(school, family.period, expect=2) == 2
    student_id = first["student"]["id"]
    listed = web_system.reports_of(parent, student_id)
    report = web_system.call("get", f"/api/v1/reports/{listed[0]['id']}", parent).json()
    assert {s["subject"] for s in report["subjects"]} >= {"Maths", "English"}

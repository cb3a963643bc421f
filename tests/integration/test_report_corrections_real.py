"""A published report can be corrected or withdrawn (issue 24), through the real chain:
reports replaces or hides the snapshot for its readers, notifications mails the parents
told of the original only when the school asks, and mail not sent about a withdrawn report
stays unsent. Real PostgreSQL, RabbitMQ and a loopback SMTP server."""
import datetime as dt

import pytest

from tests.integration import test_notifications_real as base
from tests.integration.test_notifications_real import PERIOD, _count, publish, reports_sent
from tests.support import wait_for

pytestmark = pytest.mark.integration
world = base.world  # its fixture: the five services (the SMTP `inbox` is conftest.py's)
ONE, THREE = "one@example.org", "three@example.org"  # Annabel's verified parents


def annabels_report(system, admin) -> dict:
    items = system.call("reports", "get", "/api/v1/reports", admin).json["items"]
    return next(r for r in items if r["student"]["name"] == "Annabel Quill")


def correct(system, admin, report_id, **body):
    return system.call("reports", "post", f"/api/v1/reports/{report_id}/correct", admin,
                       {"notify": True, **body})


def change_annabels_grade(system, school):
    """The school fixes the grade in its system, which pushes it (with a new client)."""
    client = system.call("identity", "post", f"/api/v1/schools/{school}/clients",
                         system.operator).json
    token = system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **client}).json["access_token"]
    system.push(token, [{"type": "attainment.recorded", "source_id": "A1", "data": {
        "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "grade",
        "value": "Q8-corrected"}}])
    wait_for(lambda: _count(system.runtimes["reports"].engine,
                            "SELECT count(*) FROM attainment WHERE value='Q8-corrected'") == 1,
             message="the corrected grade arrived")


def updated_mails(inbox, address):  # noqa: F811
    return [m for m in inbox.to(address) if "An updated report for" in m["Subject"]]


def test_a_correction_replaces_the_report_and_tells_only_the_parents_told_before(
        world, inbox):  # noqa: F811
    system, school, tokens, admin = world
    # THREE had report emails off when it was published: not told of the original.
    system.call("notifications", "put", "/api/v1/notification-preferences", tokens[THREE],
                {"report_emails": False})
    publish(system, admin)
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE kind='report' "
                                    "AND status IN ('sent', 'skipped')") == 3,
             message="report mails handled")
    system.call("notifications", "put", "/api/v1/notification-preferences", tokens[THREE],
                {"report_emails": True})
    original = annabels_report(system, admin)
    student_id = original["student"]["id"]
    change_annabels_grade(system, school)

    answer = correct(system, admin, original["id"])
    assert answer.status_code == 200, answer.json
    new_id = answer.json["id"]
    assert answer.json["replaces"] == original["id"] and answer.json["updated_at"]

    # Parents see only the current version, marked with when it was updated.
    listing = system.call("reports", "get", f"/api/v1/students/{student_id}/reports",
                          tokens[ONE]).json["items"]
    assert [r["id"] for r in listing] == [new_id] and listing[0]["updated_at"]
    assert system.call("reports", "get", f"/api/v1/reports/{original['id']}",
                       tokens[ONE]).status_code == 404
    report = system.call("reports", "get", f"/api/v1/reports/{new_id}", tokens[ONE]).json
    assert report["updated_at"] and report["published_at"] == listing[0]["published_at"]
    assert "Q8-corrected" in str(report["subjects"])
    progress = system.call("reports", "get", f"/api/v1/students/{student_id}/progress",
                           tokens[ONE]).json
    assert [p["report_id"] for p in progress["periods"]] == [new_id]
    # The school's list shows the replacement in the original's place.
    school_ids = [r["id"] for r in system.call("reports", "get", "/api/v1/reports",
                                               admin).json["items"]]
    assert new_id in school_ids and original["id"] not in school_ids

    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE "
                                    "kind='report_updated' AND status='sent'") == 1,
             timeout=30, message="the updated-report mail sent")
    (mail,) = updated_mails(inbox, ONE)
    assert mail["Subject"].startswith("An updated report for Annabel Quill at ")
    assert f"/reports/{new_id}" in inbox.text(mail)
    assert "Q8-corrected" not in inbox.text(mail)
    assert updated_mails(inbox, THREE) == []  # never told of the original

    # Replaced: it cannot be corrected or withdrawn again; the new version can.
    assert correct(system, admin, original["id"]).status_code == 409
    assert system.call("reports", "post", f"/api/v1/reports/{original['id']}/withdraw",
                       admin).status_code == 409


def test_a_correction_the_school_keeps_quiet_mails_nobody_and_a_withdrawal_hides_it(
        world, inbox):  # noqa: F811
    system, _, tokens, admin = world
    publish(system, admin)
    reports_sent(system, 3)
    original = annabels_report(system, admin)
    student_id = original["student"]["id"]
    answer = correct(system, admin, original["id"], notify=False, title="Autumn (revised)")
    assert answer.status_code == 200, answer.json
    new_id = answer.json["id"]
    event = system.tap.wait("ReportCorrected", lambda d: d["report_id"] == new_id)
    assert event["data"]["notify"] is False and event["data"]["replaces"] == original["id"]
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, f"SELECT count(*) FROM inbox WHERE event_id="
                                    f"'{event['id']}'") == 1, message="correction consumed")
    assert _count(engine, "SELECT count(*) FROM deliveries WHERE kind='report_updated'") == 0
    listing = system.call("reports", "get", f"/api/v1/students/{student_id}/reports",
                          tokens[ONE]).json["items"]
    assert [(r["id"], r["title"]) for r in listing] == [(new_id, "Autumn (revised)")]

    withdrawn = system.call("reports", "post", f"/api/v1/reports/{new_id}/withdraw", admin)
    assert withdrawn.status_code == 200 and withdrawn.json["withdrawn_at"]
    again = system.call("reports", "post", f"/api/v1/reports/{new_id}/withdraw", admin)
    assert again.status_code == 200 and again.json == withdrawn.json  # the same answer
    for token in (tokens[ONE], tokens[THREE]):
        assert system.call("reports", "get", f"/api/v1/students/{student_id}/reports",
                           token).json["items"] == []
        assert system.call("reports", "get", f"/api/v1/reports/{new_id}",
                           token).status_code == 404
    school_view = annabels_report(system, admin)
    assert school_view["id"] == new_id and school_view["visible"] is False
    assert school_view["withdrawn_at"]
    assert correct(system, admin, new_id).status_code == 409


def test_mail_not_yet_sent_about_a_withdrawn_report_is_not_sent(world, inbox):  # noqa: F811
    system, _, _, admin = world
    inbox.stop()  # nothing goes out until the withdrawal is in
    publish(system, admin)
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE kind='report'")
             == 3, message="report mails queued")
    original = annabels_report(system, admin)
    assert system.call("reports", "post", f"/api/v1/reports/{original['id']}/withdraw",
                       admin).status_code == 200
    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE "
                                    "last_error='report withdrawn'") == 2,
             message="Annabel's parents' mails stopped")
    inbox.start()
    reports_sent(system, 1)
    assert sorted(m["To"] for m in inbox.messages if "A new report for" in m["Subject"]) == [
        "two@example.org"]


def test_an_embargo_more_than_five_minutes_in_the_past_is_refused(world, inbox):  # noqa: F811
    system, _, _, admin = world
    now = dt.datetime.now(dt.timezone.utc)
    refused = system.call("reports", "post", "/api/v1/reports/publish", admin, {
        "period": PERIOD, "title": "Autumn report",
        "visible_from": (now - dt.timedelta(hours=1)).isoformat()})
    assert refused.status_code == 422, refused.json
    assert "visible_from" in refused.json["error"]["fields"]
    assert _count(system.runtimes["reports"].engine, "SELECT count(*) FROM reports") == 0
    slow_form = system.call("reports", "post", "/api/v1/reports/publish", admin, {
        "period": PERIOD, "title": "Autumn report",
        "visible_from": (now - dt.timedelta(minutes=1)).isoformat()})
    assert slow_form.status_code == 202 and slow_form.json["published"] == 2


def test_the_draft_shows_a_students_report_before_publishing_and_keeps_nothing(
        world, inbox):
    system, _, _, admin = world
    draft = system.call("reports", "get", "/api/v1/reports/draft", admin,
                        query={"period": PERIOD, "title": "Autumn report"})
    assert draft.status_code == 200, draft.json
    assert draft.json["id"] == "draft" and draft.json["title"] == "Autumn report"
    assert draft.json["student"]["name"] == "Annabel Quill"  # the first by name
    assert "Q7-distinctive-grade" in str(draft.json["subjects"])
    bo = system.call("reports", "get", "/api/v1/reports/draft", admin, query={
        "period": PERIOD, "student_id": system.tap.wait(
            "StudentRecorded", lambda d: d["given_name"] == "Bo")["data"]["student_id"]})
    assert bo.json["student"]["name"] == "Bo Rook"
    assert system.call("reports", "get", "/api/v1/reports/draft", admin,
                       query={"period": "1999 Never"}).status_code == 404
    assert _count(system.runtimes["reports"].engine, "SELECT count(*) FROM reports") == 0
    assert system.call("reports", "get", "/api/v1/reports/periods", admin
                       ).json["items"][0]["parents"] == 3  # whom publishing will tell


def test_a_report_corrected_under_embargo_is_announced_once_as_new_when_due(world, inbox):
    system, _, _, admin = world
    service = system.runtimes["reports"].context.use_cases.reports
    now = dt.datetime.now(dt.timezone.utc)
    service.clock = lambda: now
    response = system.call("reports", "post", "/api/v1/reports/publish", admin, {
        "period": PERIOD, "title": "Autumn report",
        "visible_from": (now + dt.timedelta(days=1)).isoformat()})
    assert response.status_code == 202
    original = annabels_report(system, admin)
    new_id = correct(system, admin, original["id"]).json["id"]
    service.clock = lambda: now + dt.timedelta(days=1, seconds=1)
    with system.runtimes["reports"].context.sessions() as session, session.begin():
        assert service.announce_due(session) == 2  # Bo's, and Annabel's corrected one
    system.tap.wait("ReportPublished", lambda d: d["report_id"] == new_id)
    system.tap._drain()
    announced = {e["data"]["report_id"] for e in system.tap.seen
                 if e["type"] == "ReportPublished"}
    assert new_id in announced and original["id"] not in announced
    assert not [e for e in system.tap.seen if e["type"] == "ReportCorrected"]

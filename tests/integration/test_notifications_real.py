"""Notifications through the real chain, against a real SMTP server on loopback (aiosmtpd)
that the test starts, stops and starts again (issue 8)."""
import json
from dataclasses import replace

import pytest
import sqlalchemy as sa

from services.notifications.models import metadata as notifications_metadata
from tests.support import publish_events, wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration
PERIOD = "2026 Autumn"


@pytest.fixture
def world(broker_settings, tmp_path, new_database, inbox):
    settings = replace(broker_settings, smtp_host="127.0.0.1", smtp_port=inbox.port)
    system = RealSystem(settings, tmp_path, new_database,
                        ["identity", "ingest", "linking", "reports", "notifications"])
    system.runtimes["notifications"].context.use_cases.notifications.retry_base_seconds = 0.2
    school, system_token = system.school()
    system.push(system_token, [
        student("S1", given_name="Annabel", family_name="Quill"),
        student("S2", "2014-06-01", given_name="Bo", family_name="Rook"),
        {**guardian("G1", "one@example.org", {"S1": True}), "data": {
            **guardian("G1", "one@example.org", {"S1": True})["data"],
            "given_name": "Oonagh"}},
        guardian("G3", "three@example.org", {"S1": True}),
        guardian("G2", "two@example.org", {"S2": True}),
        guardian("G4", "unverified@example.org", {"S1": True}),
        {"type": "attainment.recorded", "source_id": "A1", "data": {
            "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "grade",
            "value": "Q7-distinctive-grade"}},
        {"type": "attainment.recorded", "source_id": "A2", "data": {
            "student_id": "S2", "class_id": "C1", "period": PERIOD, "kind": "grade",
            "value": "C"}}])
    tokens = {}
    for email_, dob in (("one@example.org", "2015-03-02"), ("three@example.org", "2015-03-02"),
                        ("two@example.org", "2014-06-01")):
        # English chosen at activation (issue 29): their mails are in English alone.
        tokens[email_] = token = system.activate(email_, language="en")
        link = wait_for(lambda t=token: system.call("linking", "get", "/api/v1/links", t
                                                    ).json["items"], message="link")[0]
        assert system.call("linking", "post", f"/api/v1/links/{link['id']}/verify", token,
                           {"date_of_birth": dob}).status_code == 200
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM verified_links WHERE verified") == 3,
             message="notifications knows the verified links")
    wait_for(lambda: _count(system.runtimes["reports"].engine,
                            "SELECT count(*) FROM attainment") == 2, message="reports data")
    admin = system.admin(school, "admin@example.org")
    yield system, school, tokens, admin
    system.close()


def _count(engine, sql) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def publish(system, admin):
    response = system.call("reports", "post", "/api/v1/reports/publish", admin,
                           {"period": PERIOD, "title": "Autumn report"})
    assert response.status_code == 202


def reports_sent(system, count):
    wait_for(lambda: _count(system.runtimes["notifications"].engine,
                            "SELECT count(*) FROM deliveries WHERE kind='report' AND "
                            "status='sent'") == count, timeout=30, message="report mails sent")


def test_a_published_report_mails_each_verified_parent_once_and_nobody_else(world, inbox):
    system, _, _, admin = world
    publish(system, admin)
    reports_sent(system, 3)
    children = {"one@example.org": "Annabel Quill", "three@example.org": "Annabel Quill",
                "two@example.org": "Bo Rook"}
    for address, child in children.items():
        report_mails = [m for m in inbox.to(address) if "A new report for" in m["Subject"]]
        assert len(report_mails) == 1, address
        body = inbox.text(report_mails[0])
        assert "Autumn report" in body and "/reports/" in body
        # Issue 24: it names the child (and the school), never a grade or another child.
        assert report_mails[0]["Subject"].startswith(f"A new report for {child} at ")
        other = ({"Annabel Quill", "Bo Rook"} - {child}).pop()
        assert "Q7-distinctive-grade" not in body and other not in body
    assert not [m for m in inbox.to("unverified@example.org") if "A new report for" in m["Subject"]]


def test_the_same_report_published_event_three_times_sends_one_email(world, inbox):
    system, _, _, admin = world
    publish(system, admin)
    event = system.tap.wait("ReportPublished", lambda d: True)
    publish_events(system.settings, event, copies=2)  # three deliveries in all
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, f"SELECT count(*) FROM inbox WHERE event_id="
                                    f"'{event['id']}'") == 1
             and _count(engine, "SELECT count(*) FROM deliveries WHERE status='pending'") == 0,
             message="duplicates consumed, mail sent")
    wait_for(lambda: _count(system.runtimes["notifications"].engine,
                            "SELECT count(*) FROM delivery_attempts") == 0, message="idle")
    recipients = [m["To"] for m in inbox.messages if "A new report for" in m["Subject"]]
    assert sorted(recipients) == sorted(set(recipients))  # nobody twice


def test_smtp_down_while_publishing_then_up_again_delivers_every_mail_once(world, inbox):
    system, _, _, admin = world
    inbox.stop()
    publish(system, admin)
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE kind='report' "
                                    "AND attempts > 0 AND status='pending'") >= 1,
             message="a send failed while SMTP was down")
    inbox.start()
    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE kind='report' "
                                    "AND status='sent'") == 3, timeout=60,
             message="report mails delivered once SMTP is back")
    reports = sorted(m["To"] for m in inbox.messages if "A new report for" in m["Subject"])
    assert reports == ["one@example.org", "three@example.org", "two@example.org"]


def test_an_opted_out_parent_gets_no_report_mail_but_still_a_password_reset(world, inbox):
    system, _, tokens, admin = world
    put = system.call("notifications", "put", "/api/v1/notification-preferences",
                      tokens["one@example.org"], {"report_emails": False})
    assert put.status_code == 200 and put.json == {"report_emails": False}
    publish(system, admin)
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE kind='report' "
                                    "AND status IN ('sent', 'skipped')") == 3,
             message="report mails handled")
    assert not [m for m in inbox.to("one@example.org") if "A new report for" in m["Subject"]]
    assert [m for m in inbox.to("three@example.org") if "A new report for" in m["Subject"]]
    system.call("identity", "post", "/api/v1/auth/password-reset",
                json={"email": "one@example.org"})
    wait_for(lambda: [m for m in inbox.to("one@example.org") if "Reset" in m["Subject"]],
             message="the reset mail still goes")


def test_after_erasure_of_a_parent_nothing_in_notifications_holds_their_email_or_name(
        world, inbox):
    system, school, _, admin = world
    publish(system, admin)
    engine = system.runtimes["notifications"].engine
    reports_sent(system, 3)
    guardian_id = system.tap.wait("GuardianRecorded",
                                  lambda d: d["email"] == "one@example.org")["data"][
        "guardian_id"]
    with engine.connect() as conn:  # the copy was there before
        assert conn.execute(sa.text("SELECT name FROM guardians WHERE guardian_id=:g"),
                            {"g": guardian_id}).scalar() == "Oonagh Smith"
    system.rights_request("ErasureRequested", school, "guardian", guardian_id,
                          "notifications")
    found = []
    with engine.connect() as conn:
        for table in notifications_metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                text = json.dumps(dict(row), default=str)
                found += [f"{table.name}:{n}" for n in ("one@example.org", "Oonagh")
                          if n in text]
    assert found == []
    mail_dir = system.settings.data_dir / "mail"
    assert not mail_dir.exists() or not any(
        "one@example.org" in p.read_text(errors="ignore") for p in mail_dir.iterdir())


def test_an_erasure_at_another_school_leaves_this_schools_mail_to_the_same_address(
        world, inbox):
    """Red team (issue 21): school B records a guardian with the email of one of this
    school's parents and then erases that record. Mail of this school to the parent, and
    the parent's own password reset, waiting for SMTP meanwhile, must still go: the
    erasure blanked and skipped every message waiting for that address, whichever school
    had sent it."""
    system, _, _, admin = world
    engine = system.runtimes["notifications"].engine
    b_school, b_system = system.school("School B")
    system.push(b_system, [student("BS1", given_name="Bryn"),
                           guardian("BG1", "two@example.org", {"BS1": True})])
    ours = system.tap.wait("GuardianRecorded", lambda d: d["email"] == "two@example.org")
    b_guardian = system.tap.wait("GuardianRecorded", lambda d: d["email"] == "two@example.org"
                                 and d["guardian_id"] != ours["data"]["guardian_id"]
                                 )["data"]["guardian_id"]
    wait_for(lambda: _count(engine, "SELECT count(*) FROM deliveries WHERE kind='invitation'"
                                    f" AND school_id='{b_school}' AND status='sent'") == 1,
             message="B's invitation sent")
    inbox.stop()
    publish(system, admin)
    system.call("identity", "post", "/api/v1/auth/password-reset",
                json={"email": "two@example.org"})
    waiting = ("SELECT count(*) FROM deliveries WHERE to_address='two@example.org' AND "
               "status='pending' AND attempts > 0 AND kind IN ('report', 'reset')")
    wait_for(lambda: _count(engine, waiting) == 2, timeout=30,
             message="this school's report mail and the reset waiting for SMTP")
    answer = system.rights_request("ErasureRequested", b_school, "guardian", b_guardian,
                                   "notifications")
    assert answer["data"]["outcome"] == "done"
    assert _count(engine, waiting) == 2
    inbox.start()
    wait_for(lambda: {m["Subject"].split(" for ")[0] for m in inbox.to("two@example.org")}
             >= {"A new report", "Reset your Pupil Progress password"}, timeout=60,
             message="both delivered once SMTP is back")

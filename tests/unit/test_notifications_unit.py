"""Notifications without a broker: templates, .eml delivery, caps and the privacy notice
(SQLite, the in-memory broker)."""
import datetime as dt
import email
import re
import threading
import urllib.parse


import email.policy
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.notifications import service as notifications_service
from services.notifications import templates
from services.notifications.app import SPEC
from services.notifications.models import privacy_notices
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.config import ConfigError, Settings
from shared.contracts import typed as ev
from shared.service import ServiceRuntime
from tests import second_factor
from tests.support import wait_for

SCHOOL = str(uuid.uuid4())


def test_a_report_mail_has_the_title_and_a_link_but_no_grades():
    message = templates.report_published("https://pp.example", "Pat", "Autumn report",
                                         "2026 Autumn", "r-1")
    assert "Autumn report" in message.text and "https://pp.example/reports/r-1" in message.text
    assert "<a href=\"https://pp.example/reports/r-1\">" in message.html


def test_an_updated_report_mail_names_the_child_and_school_and_links_the_new_version():
    message = templates.report_updated("https://pp.example", "Pat", "Autumn report",
                                       "2026 Autumn", "r-2", "Alex Example",
                                       templates.School("Demo Academy", "office@demo.example"))
    assert message.subject == "An updated report for Alex Example at Demo Academy"
    assert "corrected the report for Alex Example" in message.text
    assert "https://pp.example/reports/r-2" in message.text
    assert "office@demo.example" in message.text


def test_invitation_links_carry_the_token_and_html_is_escaped():
    message = templates.invitation("https://pp.example", "<b>Pat</b>", "tok_EN-123", "parent")
    assert "https://pp.example/activate?token=tok_EN-123" in message.text
    assert "<b>Pat</b>" not in message.html and "&lt;b&gt;Pat&lt;/b&gt;" in message.html


def test_an_invitation_to_an_existing_login_asks_for_the_password_already_used():
    """Issue 21: accepting never sets a new password for a login that has one."""
    message = templates.invitation("https://pp.example", "Pat", "tok_EN-123", "parent",
                                   existing_login=True)
    assert "https://pp.example/activate?token=tok_EN-123" in message.text
    assert "password you already use" in message.text and "as a parent or carer" in message.text
    assert "Choose a password" not in message.text
    fresh = templates.invitation("https://pp.example", "Pat", "tok_EN-123", "parent")
    assert "Choose a password" in fresh.text and "already" not in fresh.text


def test_mail_to_a_login_with_no_name_on_record_still_greets():
    assert templates.password_reset("https://pp.example", "", "tok_EN-123").text.startswith(
        "Hello,\n")


@pytest.fixture
def notifications(tmp_path):
    rt = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    rt.start()
    key = Ed25519PrivateKey.generate()
    rt.verifier = TokenVerifier(lambda: {key_id(key.public_key()): key.public_key()})
    client = rt.create_app().test_client()
    yield rt, client, TokenSigner(key), rt.context.use_cases.notifications
    rt.engine.dispose()


def invite_admin(rt, service, email_address):
    envelope = SimpleNamespace(id=str(uuid.uuid4()), school_id=SCHOOL)
    with rt.context.sessions() as session, session.begin():
        service.on_invitations(session, [(envelope, ev.InvitationIssued(**{
            "invitation_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "role": "school_admin", "name": "Ada Admin", "email": email_address,
            "token": "t" * 30, "expires_at": None, "existing_login": False}))])


def send_all(rt, service) -> int:
    sent = 0
    while handled := service.send_due(rt.context.sessions):
        sent += handled
    return sent


def test_without_smtp_mail_is_written_as_eml_files_and_bodies_are_not_kept(notifications,
                                                                           tmp_path):
    rt, _, _, service = notifications
    invite_admin(rt, service, "ada@example.org")
    assert send_all(rt, service) == 1
    (path,) = (tmp_path / "mail").iterdir()
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "ada@example.org" and "token=" in message.as_string()
    with rt.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT status, to_address, body_text FROM deliveries"
                                   ).one()
    assert tuple(row) == ("sent", None, None)  # the token is gone from the database


def test_mail_queued_wakes_the_sender_at_once_and_an_idle_sender_does_not_poll(
        notifications, tmp_path, monkeypatch):
    """Issue 27: an idle sender cost a transaction every 0.2 s. It now waits for a commit
    that queued mail in its process (or its fallback poll, here far longer than the test),
    and still stops at once."""
    rt, _, _, service = notifications
    monkeypatch.setattr(notifications_service, "SENDER_POLL_SECONDS", 120.0)
    looks = []
    send_due = service.send_due
    monkeypatch.setattr(service, "send_due",
                        lambda *a, **k: looks.append(1) or send_due(*a, **k))
    stop = threading.Event()
    thread = threading.Thread(target=service.sender(rt.context.sessions), args=(stop,),
                              daemon=True)
    thread.start()
    try:
        wait_for(lambda: looks, message="the sender's first look")
        invite_admin(rt, service, "ada@example.org")  # its commit wakes the sender
        wait_for(lambda: (tmp_path / "mail").is_dir() and any((tmp_path / "mail").iterdir()),
                 message="the mail written on the commit's wake-up")
        assert len(looks) <= 3  # nothing due; the mail; nothing due: no look between
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()  # stopped at once, not at the poll


def test_an_idle_sender_waits_for_a_commit_that_queued_mail_or_its_stop(notifications,
                                                                        monkeypatch):
    rt, _, _, service = notifications
    monkeypatch.setattr(notifications_service, "SENDER_POLL_SECONDS", 120.0)
    queued = threading.Event()
    service.mail_queued.append(queued)  # as a sender loop registers its own
    for wake in (lambda stop: invite_admin(rt, service, "ada@example.org"),
                 lambda stop: stop.set()):
        queued.clear()
        stop = threading.Event()
        waiting = threading.Thread(target=notifications_service.await_mail,
                                   args=(queued, stop), daemon=True)
        waiting.start()
        wake(stop)
        waiting.join(timeout=5)
        assert not waiting.is_alive()


def test_the_operator_announces_a_privacy_notice_to_every_schools_admins_once(notifications,
                                                                              tmp_path):
    rt, client, signer, service = notifications
    invite_admin(rt, service, "a1@example.org")
    invite_admin(rt, service, "a2@example.org")
    send_all(rt, service)
    operator = signer.issue(str(uuid.uuid4()), "operator", [],
                            **second_factor.passed_claims())
    body = {"version": "2027-01", "effective_date": "2027-01-31", "text": "Our notice."}
    for _ in range(2):  # announced twice: told once
        response = client.post("/api/v1/privacy-notices", json=body,
                               headers={"Authorization": f"Bearer {operator}"})
        assert response.status_code == 202 and response.json == {"notified": 2}
    assert send_all(rt, service) == 2
    parent = signer.issue(str(uuid.uuid4()), "parent", [SCHOOL])
    assert client.post("/api/v1/privacy-notices", json=body,
                       headers={"Authorization": f"Bearer {parent}"}).status_code == 404


def test_a_privacy_notice_version_carries_its_text_and_its_mail_links_to_that_version(
        notifications, tmp_path):
    """Issue 24: the version's words are kept and served at the link its mail gives."""
    rt, client, signer, service = notifications
    invite_admin(rt, service, "a1@example.org")
    send_all(rt, service)
    operator = {"Authorization": "Bearer " + signer.issue(
        str(uuid.uuid4()), "operator", [], **second_factor.passed_claims())}
    words = "We keep only what your school sends.\n\nYou can ask for a copy."
    body = {"version": "2027 spring/1", "effective_date": "2027-03-01", "text": words}
    missing = client.post("/api/v1/privacy-notices", headers=operator,
                          json={k: v for k, v in body.items() if k != "text"})
    assert missing.status_code == 422 and "text" in missing.json["error"]["fields"]
    assert client.post("/api/v1/privacy-notices", headers=operator,
                       json=body).status_code == 202
    assert client.post("/api/v1/privacy-notices", headers=operator,
                       json=body).status_code == 202  # the same again: nothing new
    for changed in ({"text": words + " Changed."}, {"effective_date": "2027-04-01"}):
        refused = client.post("/api/v1/privacy-notices", headers=operator,
                              json={**body, **changed})
        assert refused.status_code == 409
        assert refused.json["error"]["code"] == "privacy_notice_version_published"
    assert send_all(rt, service) == 1
    (mail,) = [email.message_from_bytes(p.read_bytes()) for p in (tmp_path / "mail").iterdir()
               if b"privacy notice" in p.read_bytes()]
    text = next(part for part in mail.walk() if part.get_content_type() == "text/plain"
                ).get_payload(decode=True).decode()
    link = re.search(r"Read the privacy notice: (\S+)", text).group(1)
    assert link.endswith("/privacy?version=2027%20spring/1")
    version = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["version"][0]
    shown = client.get(f"/api/v1/privacy-notices/{urllib.parse.quote(version)}")
    assert shown.status_code == 200 and shown.json["text"] == words
    assert shown.json["version"] == "2027 spring/1" and shown.json["has_text"] is True
    assert client.get("/api/v1/privacy-notices/never").status_code == 404


def test_a_version_announced_before_texts_were_kept_takes_its_text_once(notifications):
    rt, client, signer, service = notifications
    with rt.context.sessions() as session, session.begin():
        session.execute(sa.insert(privacy_notices).values(
            version="2026-01", effective_date=dt.date(2026, 1, 31),
            announced_at=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)))
    assert client.get("/api/v1/privacy-notices").json["items"][0]["has_text"] is False
    assert client.get("/api/v1/privacy-notices/2026-01").json["text"] is None
    operator = {"Authorization": "Bearer " + signer.issue(
        str(uuid.uuid4()), "operator", [], **second_factor.passed_claims())}
    assert client.post("/api/v1/privacy-notices", headers=operator, json={
        "version": "2026-01", "effective_date": "2026-01-31", "text": "Old words."}
    ).status_code == 202
    assert client.get("/api/v1/privacy-notices/2026-01").json["text"] == "Old words."


def test_report_mails_are_capped_per_recipient_per_hour(notifications):
    rt, _, _, service = notifications
    message = templates.report_published("x", "Pat", "T", "P", "r")
    with rt.context.sessions() as session, session.begin():
        for _ in range(service.per_recipient_per_hour + 3):
            service._queue(session, str(uuid.uuid4()), "account:a1", SCHOOL, "report",
                           "pat@example.org", message)
    send_all(rt, service)
    with rt.engine.connect() as conn:
        counts = dict(conn.exec_driver_sql(
            "SELECT status, count(*) FROM deliveries GROUP BY status").all())
    assert counts == {"sent": service.per_recipient_per_hour, "skipped": 3}


def _invite(rt, service, school, email_address, role, **records):
    envelope = SimpleNamespace(id=str(uuid.uuid4()), school_id=school)
    account = str(uuid.uuid4())
    with rt.context.sessions() as session, session.begin():
        service.on_invitations(session, [(envelope, ev.InvitationIssued(**{
            "invitation_id": str(uuid.uuid4()), "account_id": account, "role": role,
            "name": "Someone", "email": email_address, "token": "t" * 30,
            "expires_at": None, "guardian_ids": [], "student_ids": [], **records}))])
    return account


def _mail_to(tmp_path) -> set[str]:
    return {email.message_from_bytes(p.read_bytes())["To"]
            for p in (tmp_path / "mail").glob("*.eml")}


def _erase(rt, school, subject_type, subject_id):
    from shared.rights import Subject
    with rt.context.sessions() as session, session.begin():
        return rt.context.participant.erase(session, Subject(school, subject_type,
                                                             subject_id))


def test_an_erasure_takes_the_mail_files_of_the_deliveries_it_removes(notifications,
                                                                      tmp_path):
    """The mail folder holds names and addresses like the rows did: a student's, a
    parent's (not yet signed up) and an admin's invitation mails go with their erasure;
    another school's mail to the same kind of person stays."""
    rt, _, _, service = notifications
    other_school = str(uuid.uuid4())
    student, guardian = str(uuid.uuid4()), str(uuid.uuid4())
    _invite(rt, service, SCHOOL, "student@example.org", "student", student_ids=[student])
    _invite(rt, service, SCHOOL, "parent@example.org", "parent", guardian_ids=[guardian])
    admin = _invite(rt, service, SCHOOL, "admin@example.org", "school_admin")
    _invite(rt, service, other_school, "kept@example.org", "student",
            student_ids=[str(uuid.uuid4())])
    assert send_all(rt, service) == 4
    _erase(rt, SCHOOL, "student", student)
    _erase(rt, SCHOOL, "guardian", guardian)
    _erase(rt, other_school, "staff", admin)  # another school's erasure: nothing here
    assert _mail_to(tmp_path) == {"admin@example.org", "kept@example.org"}
    _erase(rt, SCHOOL, "staff", admin)
    assert _mail_to(tmp_path) == {"kept@example.org"}
    with rt.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM deliveries").scalar_one() == 1


@pytest.mark.parametrize("kind,factor,by_role,says", [
    ("added", "totp", None, "An authenticator app was added"),
    ("replaced", "totp", None, "in place of the earlier one"),
    ("replaced", "recovery_codes", None, "New recovery codes were made"),
    ("added", "passkey", None, "A passkey was added"),
    ("removed", "passkey", None, "A passkey was removed"),
    ("reset", "totp", "school_admin", "reset by another administrator of your school"),
    ("reset", "totp", "operator", "reset by a Pupil Progress operator"),
])
def test_every_second_factor_change_mails_the_person_naming_no_secret(
        notifications, tmp_path, kind, factor, by_role, says):
    """Issue 25: SecondFactorChanged is mailed to the person, always (security mail), with
    what changed and what to do if it was not them; the event carries no secret, so the
    mail cannot hold one."""
    rt, _, _, service = notifications
    account_id = str(uuid.uuid4())
    envelope = SimpleNamespace(id=str(uuid.uuid4()), school_id=None)
    with rt.context.sessions() as session, session.begin():
        service.on_second_factor_changed(session, envelope, ev.SecondFactorChanged(**{
            "account_id": account_id, "name": "Ada Admin", "email": "ada@example.org",
            "kind": kind, "factor": factor, "by_role": by_role, "at": None}))
        service.on_second_factor_changed(session, envelope, ev.SecondFactorChanged(**{
            "account_id": account_id, "name": "Ada Admin", "email": "ada@example.org",
            "kind": kind, "factor": factor, "by_role": by_role, "at": None}))  # redelivered
    assert send_all(rt, service) == 1
    (path,) = (tmp_path / "mail").iterdir()
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",)).get_content()
    assert message["To"] == "ada@example.org"
    assert says in body and "If it was not, change your password" in body
    assert "token=" not in body and "otpauth" not in body


def test_a_late_removal_older_than_the_contact_held_keeps_the_contact(notifications):
    """The school removed the contact and added them back: the removal, arriving after the
    newer record, must not forget the contact (their mail would stop)."""
    from services.notifications.models import guardians
    rt, _, _, service = notifications
    contact = ev.GuardianRecorded(guardian_id=str(uuid.uuid4()), given_name="Pat",
                                  family_name="Parent", email="pat@example.org",
                                  record_version=3)
    with rt.context.sessions() as session, session.begin():
        service.record_guardians(session, [(SCHOOL, contact)])
        service.remove_guardian(session, SCHOOL, ev.GuardianRemoved(
            guardian_id=contact.guardian_id, record_version=2))
        assert session.execute(sa.select(guardians.c.record_version)).scalars().all() == [3]
        service.remove_guardian(session, SCHOOL, ev.GuardianRemoved(
            guardian_id=contact.guardian_id, record_version=4))
        assert session.execute(sa.select(guardians.c.record_version)).scalars().all() == []


@pytest.mark.parametrize("value", ["0", "9", "two"])
def test_smtp_connections_outside_one_to_eight_is_a_configuration_error(value):
    """Each sender holds a database connection of the worker's pool through its batch."""
    with pytest.raises(ConfigError, match="PP_SMTP_CONNECTIONS"):
        Settings.from_env({"PP_SMTP_CONNECTIONS": value})
    assert Settings.from_env({"PP_SMTP_CONNECTIONS": "8"}).smtp_connections == 8
    assert Settings.from_env({}).smtp_connections == 2

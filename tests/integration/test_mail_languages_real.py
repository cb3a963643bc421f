"""Issue 29 on real PostgreSQL, RabbitMQ and an SMTP server on loopback: every email is in
the person's language. A parent who chose English gets English only, one who chose Welsh
Welsh only, one whose choice is not known both in one mail, Welsh first at a Welsh-medium
school; a language changed later is the language of the next email."""
from __future__ import annotations

import re
from dataclasses import replace
from email.header import decode_header, make_header

import pytest
import sqlalchemy as sa

from tests.support import wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration
PERIOD = "2026 Autumn"
SCHOOL = "Ysgol y Dderwen"
PARENTS = {"en@example.org": ("S1", "2015-03-02", "en"),
           "cy@example.org": ("S2", "2014-06-01", "cy"),
           "unknown@example.org": ("S3", "2013-09-09", None)}


def subject(message) -> str:
    """The Subject header as the reader sees it: unfolded, encoded words decoded."""
    return str(make_header(decode_header(re.sub(r"\r?\n", "", message["Subject"]))))


def parts(message) -> dict[str, str]:
    return {part.get_content_type(): part.get_payload(decode=True).decode()
            for part in message.walk() if part.get_content_maintype() == "text"}


def _count(engine, sql: str, **values) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), values).scalar_one()


@pytest.fixture
def world(broker_settings, tmp_path, new_database, inbox):
    settings = replace(broker_settings, smtp_host="127.0.0.1", smtp_port=inbox.port)
    system = RealSystem(settings, tmp_path, new_database,
                        ["identity", "ingest", "linking", "reports", "notifications"])
    school = system.call("identity", "post", "/api/v1/schools", system.operator,
                         {"name": SCHOOL, "default_language": "cy"}).json["id"]
    client = system.call("identity", "post", f"/api/v1/schools/{school}/clients",
                         system.operator).json
    system_token = system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **client}).json["access_token"]
    events = []
    for address, (child, dob, _) in PARENTS.items():
        events += [student(child, dob, given_name=f"Plentyn{child}", family_name="Jones"),
                   guardian(f"G{child}", address, {child: True}),
                   {"type": "attainment.recorded", "source_id": f"A{child}", "data": {
                       "student_id": child, "class_id": "C1", "period": PERIOD,
                       "kind": "grade", "value": "B"}}]
    system.push(system_token, events)
    tokens = {}
    for address, (_, dob, language) in PARENTS.items():
        tokens[address] = token = system.activate(address, language=language)
        link = wait_for(lambda t=token: system.call("linking", "get", "/api/v1/links", t
                                                    ).json["items"], message="link")[0]
        assert system.call("linking", "post", f"/api/v1/links/{link['id']}/verify", token,
                           {"date_of_birth": dob}).status_code == 200
    engine = system.runtimes["notifications"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM verified_links WHERE verified") == 3
             and _count(engine, "SELECT count(*) FROM languages") == 2,
             message="notifications knows the links and the languages chosen")
    wait_for(lambda: _count(system.runtimes["reports"].engine,
                            "SELECT count(*) FROM attainment") == 3, message="reports data")
    admin = system.admin(school, "admin@example.org")
    yield system, tokens, admin, inbox
    system.close()


def _report_mail(inbox, address: str):
    def found():
        mails = [m for m in inbox.to(address) if "/reports/" in mail_text(m)]
        return mails[0] if mails else None
    return wait_for(found, timeout=60, message=f"the report mail to {address}")


def mail_text(message) -> str:
    return "".join(parts(message).values())


def test_each_parent_gets_the_report_mail_in_their_language_or_both_welsh_first(world):
    system, _, admin, inbox = world
    assert system.call("reports", "post", "/api/v1/reports/publish", admin,
                       {"period": PERIOD, "title": "Autumn report"}).status_code == 202
    english = _report_mail(inbox, "en@example.org")
    assert subject(english) == f"A new report for PlentynS1 Jones at {SCHOOL}"
    text, html = parts(english)["text/plain"], parts(english)["text/html"]
    assert "Hello Pat Smith," in text and "Helo" not in text and "Adroddiad" not in text
    assert '<html lang="en">' in html and 'lang="cy"' not in html

    welsh = _report_mail(inbox, "cy@example.org")
    assert subject(welsh) == f"Adroddiad newydd: PlentynS2 Jones, {SCHOOL}"
    text, html = parts(welsh)["text/plain"], parts(welsh)["text/html"]
    assert text.startswith("Helo Pat Smith,")
    assert f"Mae {SCHOOL} wedi cyhoeddi adroddiad newydd (PlentynS2 Jones)" in text
    assert "Darllenwch yr adroddiad: " in text and "Hello" not in text
    assert '<html lang="cy">' in html and 'lang="en"' not in html

    both = _report_mail(inbox, "unknown@example.org")
    assert subject(both) == (f"Adroddiad newydd: PlentynS3 Jones, {SCHOOL} / "
                             f"A new report for PlentynS3 Jones at {SCHOOL}")
    text, html = parts(both)["text/plain"], parts(both)["text/html"]
    assert text.index("Helo Pat Smith,") < text.index("Hello Pat Smith,")
    assert re.search(r'<html lang="cy"><body><div lang="cy">.*Helo Pat.*</div><hr>'
                     r'<div lang="en">.*Hello Pat.*</div></body></html>', html, re.DOTALL)
    # the same report link in both languages, the one in the app
    assert len(set(re.findall(r"/reports/[0-9a-f-]{36}", text))) == 1


def test_an_invitation_to_a_new_login_is_bilingual_welsh_first_at_a_welsh_medium_school(
        world):
    _, _, _, inbox = world
    (invitation,) = [m for m in inbox.to("unknown@example.org") if "/activate?" in
                     mail_text(m)][:1]
    assert subject(invitation) == (f"Eich gwahoddiad i Pupil Progress: {SCHOOL} / "
                                   f"Your Pupil Progress invitation from {SCHOOL}")
    assert '<html lang="cy"><body><div lang="cy">' in parts(invitation)["text/html"]


def test_a_language_changed_is_the_language_of_the_next_email(world):
    system, tokens, _, inbox = world
    engine = system.runtimes["notifications"].engine
    me = system.call("identity", "get", "/api/v1/me", tokens["cy@example.org"]).json
    assert system.call("identity", "patch", "/api/v1/me", tokens["cy@example.org"],
                       {"language": "en"}).status_code == 200
    wait_for(lambda: _count(engine, "SELECT count(*) FROM languages WHERE account_id = :a "
                                    "AND language = 'en'", a=me["id"]) == 1,
             message="notifications took the new language")
    assert system.call("identity", "post", "/api/v1/auth/password-reset",
                       json={"email": "cy@example.org"}).status_code == 202
    reset = wait_for(lambda: next((m for m in inbox.to("cy@example.org")
                                   if "/reset-password?" in mail_text(m)), None),
                     timeout=60, message="the reset mail")
    assert subject(reset) == "Reset your Pupil Progress password"
    assert "Helo" not in mail_text(reset)
    assert '<html lang="en">' in parts(reset)["text/html"]
    # and back to Welsh: the one after it is in Welsh alone
    assert system.call("identity", "patch", "/api/v1/me", tokens["cy@example.org"],
                       {"language": "cy"}).status_code == 200
    wait_for(lambda: _count(engine, "SELECT count(*) FROM languages WHERE account_id = :a "
                                    "AND language = 'cy'", a=me["id"]) == 1,
             message="notifications took Welsh again")
    assert system.call("identity", "post", "/api/v1/auth/password-reset",
                       json={"email": "cy@example.org"}).status_code == 202
    welsh = wait_for(lambda: [m for m in inbox.to("cy@example.org")
                              if "/reset-password?" in mail_text(m)][1:] or None,
                     timeout=60, message="the second reset mail")[0]
    assert subject(welsh) == "Ailosodwch eich cyfrinair Pupil Progress"
    assert "Hello" not in mail_text(welsh)


def test_the_language_kept_is_exported_and_erased_with_the_parent(world):
    """The login's language is the parent's personal data in notifications too: in their
    access export, and gone with their erasure."""
    system, tokens, _, _ = world
    engine = system.runtimes["notifications"].engine
    me = system.call("identity", "get", "/api/v1/me", tokens["cy@example.org"]).json
    recorded = system.tap.wait("GuardianRecorded", lambda d: d["email"] == "cy@example.org")
    school, guardian_id = recorded["school_id"], recorded["data"]["guardian_id"]
    exported = system.rights_request("AccessRequested", school, "guardian", guardian_id,
                                     "notifications")
    assert exported["data"]["tables"]["languages"] == [{"account_id": me["id"],
                                                        "language": "cy"}]
    erased = system.rights_request("ErasureRequested", school, "guardian", guardian_id,
                                   "notifications")
    assert erased["data"]["outcome"] == "done"
    assert _count(engine, "SELECT count(*) FROM languages WHERE account_id = :a",
                  a=me["id"]) == 0
    assert _count(engine, "SELECT count(*) FROM languages") == 1  # the English parent's

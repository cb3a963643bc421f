"""What a requester is owed, and the offboarding certificate (issue 30): every service on
real RabbitMQ and PostgreSQL, mail to the project's loopback SMTP server. The requester is
mailed when their request completes or is refused; a parent's own erasure still mails
them, and afterwards no table holds their address; an offboarding mails the certificate
to the school's office, and afterwards that address is gone too. A student who files is
mailed too, at their login's address (kept by notifications from their invitation)."""
import datetime as dt
import importlib
import io
import json
import re
import zipfile
from dataclasses import replace

import pytest
import sqlalchemy as sa

from shared.config import SERVICES
from tests.support import Inbox, wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration
PARENT = "quillon.parent@example.org"
OFFICE = "office.zx@hill-school.example"


@pytest.fixture
def world(broker_settings, tmp_path, new_database, inbox):
    settings = replace(broker_settings, smtp_host="127.0.0.1", smtp_port=inbox.port)
    system = RealSystem(settings, tmp_path, new_database, list(SERVICES))
    system.runtimes["notifications"].context.use_cases.notifications.retry_base_seconds = 0.2
    school, system_token = system.school("Hill School")
    system.push(system_token, [
        student("S1", "2013-11-07", given_name="Zephyrine", family_name="Quarles"),
        guardian("G1", PARENT, {"S1": True})])
    # English chosen (issue 29): the mails below are in English alone.
    parent = system.activate(PARENT, language="en")
    link = wait_for(lambda: system.call("linking", "get", "/api/v1/links", parent
                                        ).json["items"], message="link")[0]
    assert system.call("linking", "post", f"/api/v1/links/{link['id']}/verify", parent,
                       {"date_of_birth": "2013-11-07"}).status_code == 200
    admin = system.admin(school, "admin@example.org")
    wait_for(lambda: len(subjects(system, parent)) == 2, message="dsar knows whom they "
             "may file about")
    yield system, school, parent, admin
    system.close()


def subjects(system, token) -> list[dict]:
    return system.call("dsar", "get", "/api/v1/subject-requests/subjects", token
                       ).json["items"]


def file(system, token, kind, subject_type, subject_id):
    response = system.call("dsar", "post", "/api/v1/subject-requests", token, {
        "kind": kind, "subject": {"type": subject_type, "id": subject_id}})
    assert response.status_code == 201, response.json
    return response.json


def decide(system, admin, request_id, action, **body):
    response = system.call("dsar", "post", f"/api/v1/subject-requests/{request_id}/{action}",
                           admin, body or None)
    assert response.status_code == 200, response.json
    return response.json


# The mails about the login itself, not about a request: its invitation, and a sign-in
# method set up or changed (issue 25: a staff login's second factor, mailed when enrolled).
ACCOUNT_MAIL = ("invitation", "sign-in method", "second factor", "recovery codes")


def about_requests(inbox, address) -> list:
    """The mails to `address` other than those about its login."""
    return [m for m in inbox.to(address)
            if not any(word in m["Subject"] for word in ACCOUNT_MAIL)]


def mails_to(inbox, address, count=1) -> list:
    return wait_for(lambda: len(about_requests(inbox, address)) >= count
                    and about_requests(inbox, address),
                    timeout=60, message=f"{count} mail(s) delivered")


def holding(system, needle: str) -> list[str]:
    """Every table, in every service's database, with a row whose text holds `needle`."""
    found = []
    for name in SERVICES:
        metadata = importlib.import_module(f"services.{name}.models").metadata
        with system.runtimes[name].engine.connect() as conn:
            for table in metadata.sorted_tables:
                count = conn.execute(sa.text(
                    f'SELECT count(*) FROM "{table.name}" AS t WHERE '
                    f"lower(t::text) LIKE :needle"), {"needle": f"%{needle.lower()}%"}
                ).scalar_one()
                if count:
                    found.append(f"{name}.{table.name}")
    return found


def relays_idle(system) -> bool:
    return all(rt.relay.pending() == 0 for rt in system.runtimes.values())


def test_a_completed_access_request_mails_the_parent_who_filed_it(world, inbox):
    system, _, parent, admin = world
    child = next(s for s in subjects(system, parent) if s["type"] == "student")
    request = file(system, parent, "access", "student", child["id"])
    decide(system, admin, request["id"], "approve")
    [mail] = mails_to(inbox, PARENT)
    text = Inbox.text(mail)
    assert mail["Subject"] == "Your request to Hill School is complete"
    assert "completed your request for a copy of data" in text
    assert "Zephyrine" not in text and "Quarles" not in text  # nobody else's data
    assert about_requests(inbox, "admin@example.org") == []


def test_a_copy_released_to_the_parent_mails_them_in_their_language_until_when(world,
                                                                             inbox):
    """Issue 24: the school releases the copy to the parent who asked; they are told it is
    ready to download in the app and until when, naming the child and the school, in the
    language they chose (Welsh, changed since their English at activation)."""
    system, _, parent, admin = world
    me = system.call("identity", "get", "/api/v1/me", parent).json
    assert system.call("identity", "patch", "/api/v1/me", parent,
                       {"language": "cy"}).status_code == 200
    engine = system.runtimes["notifications"].engine

    def chosen():
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT language FROM languages WHERE account_id = "
                                        ":a"), {"a": me["id"]}).scalar()
    wait_for(lambda: chosen() == "cy", message="notifications took the parent's Welsh")
    child = next(s for s in subjects(system, parent) if s["type"] == "student")
    request = file(system, parent, "access", "student", child["id"])
    decide(system, admin, request["id"], "approve")
    mails_to(inbox, PARENT)
    released = decide(system, admin, request["id"], "release")
    assert released["export_released"] is True
    _, mail = mails_to(inbox, PARENT, count=2)
    assert unfolded(mail["Subject"]) == ("Copi o'r data yn barod i'w lwytho i lawr: "
                                         "Zephyrine Quarles, Hill School")
    text = Inbox.text(mail)
    until = dt.datetime.fromisoformat(released["export_expires_at"])
    assert (f"Mae Hill School wedi rhyddhau'r copi o'r data y gofynnoch amdano "
            f"(Zephyrine Quarles). Gallwch ei lwytho i lawr yn yr ap tan "
            f"{until.day} {WELSH_MONTHS[until.month - 1]} {until.year}.") in text
    assert f"/requests/{request['id']}" in text and "Hello" not in text
    assert '<html lang="cy">' in text
    # released once: asking again sends nothing more
    decide(system, admin, request["id"], "release")
    wait_for(lambda: relays_idle(system), message="every outbox sent")
    assert len(about_requests(inbox, PARENT)) == 2


def unfolded(header: str) -> str:
    """A long header as written, before SMTP folded it over lines."""
    return re.sub(r"\r?\n", "", header).strip()


WELSH_MONTHS = ("Ionawr", "Chwefror", "Mawrth", "Ebrill", "Mai", "Mehefin", "Gorffennaf",
                "Awst", "Medi", "Hydref", "Tachwedd", "Rhagfyr")


def test_a_refused_request_mails_the_reason(world, inbox):
    system, _, parent, admin = world
    child = next(s for s in subjects(system, parent) if s["type"] == "student")
    request = file(system, parent, "erasure", "student", child["id"])
    decide(system, admin, request["id"], "refuse", reason="We must keep it until July")
    [mail] = mails_to(inbox, PARENT)
    assert mail["Subject"] == "Your request to Hill School was refused"
    assert "The school's reason: We must keep it until July" in Inbox.text(mail)


def test_a_parents_own_erasure_still_mails_them_and_leaves_their_address_nowhere(world,
                                                                               inbox):
    system, _, parent, admin = world
    me = next(s for s in subjects(system, parent) if s["type"] == "guardian")
    request = file(system, parent, "erasure", "guardian", me["id"])
    decide(system, admin, request["id"], "approve")
    [mail] = mails_to(inbox, PARENT)
    assert mail["Subject"] == "Your request to Hill School is complete"
    assert "your personal data has been erased" in Inbox.text(mail)
    wait_for(lambda: relays_idle(system), message="every outbox sent")
    assert holding(system, PARENT) == []


def test_an_erasure_the_school_filed_about_a_parent_mails_nobody_and_keeps_no_address(
        world, inbox):
    system, _, parent, admin = world
    me = next(s for s in subjects(system, parent) if s["type"] == "guardian")
    request = file(system, admin, "erasure", "guardian", me["id"])

    def completed():
        view = system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}",
                           admin).json
        return view["status"] == "completed"
    wait_for(completed, timeout=60, message="erasure completed")
    wait_for(lambda: relays_idle(system), message="every outbox sent")
    wait_for(lambda: holding(system, PARENT) == [], message="the held mail deleted")
    assert about_requests(inbox, PARENT) == []


def test_offboarding_mails_the_certificate_to_the_office_then_forgets_its_address(world,
                                                                                inbox):
    system, school, _, _ = world
    assert system.call("identity", "patch", f"/api/v1/schools/{school}", system.operator,
                       {"office_email": OFFICE}).status_code == 200
    wait_for(lambda: holding(system, OFFICE) and "notifications.schools" in
             holding(system, OFFICE), message="notifications knows the office address")
    assert system.call("identity", "delete", f"/api/v1/schools/{school}", system.operator
                       ).status_code == 202
    [mail] = mails_to(inbox, OFFICE)
    # The office chose no language: both, the school's default (English) first.
    assert unfolded(mail["Subject"]) == ("Hill School: offboarding certificate / "
                                         "Hill School: tystysgrif datgofrestru")
    [attached] = [p for p in mail.walk() if p.get_filename()]
    assert attached.get_filename() == "offboarding-certificate.jws"
    certificate = attached.get_payload(decode=True).decode()
    downloaded = system.call("dsar", "get", f"/api/v1/offboardings/{school}/receipt",
                             system.operator)
    assert downloaded.status_code == 200
    assert certificate == downloaded.get_data(as_text=True).strip()
    wait_for(lambda: relays_idle(system), message="every outbox sent")
    assert holding(system, OFFICE) == []


# --- a student requester (issue 30 review): notifications keeps the student login's
# address from its invitation, declared, exported and erased with the student.
STUDENT = "bo.rook.student@example.org"


@pytest.fixture
def student_world(broker_settings, tmp_path, new_database, inbox):
    settings = replace(broker_settings, smtp_host="127.0.0.1", smtp_port=inbox.port)
    system = RealSystem(settings, tmp_path, new_database, list(SERVICES))
    system.runtimes["notifications"].context.use_cases.notifications.retry_base_seconds = 0.2
    school, system_token = system.school("Hill School")
    assert system.call("identity", "patch", f"/api/v1/schools/{school}", system.operator,
                       {"student_accounts": True}).status_code == 200
    system.push(system_token, [
        student("S1", "2013-11-07", given_name="Zephyrine", family_name="Quarles"),
        student("S2", "2014-06-01", given_name="Bo", family_name="Rook", email=STUDENT),
        guardian("G1", PARENT, {"S1": True, "S2": True})])
    me = system.activate(STUDENT, "a-student-password-1", language="en")
    admin = system.admin(school, "admin@example.org")
    wait_for(lambda: len(subjects(system, me)) == 1, message="dsar knows the student's id")
    yield system, school, me, admin
    system.close()


def test_a_student_requester_is_mailed_when_their_request_completes(student_world, inbox):
    system, _, me, admin = student_world
    [mine] = subjects(system, me)
    request = file(system, me, "access", "student", mine["id"])
    decide(system, admin, request["id"], "approve")
    [mail] = mails_to(inbox, STUDENT)
    text = Inbox.text(mail)
    assert mail["Subject"] == "Your request to Hill School is complete"
    assert "Bo Rook" in text and "completed your request for a copy of data" in text
    assert "Zephyrine" not in text and "Pat" not in text  # nobody else's data
    # The address notifications keeps is the student's own data: in their export.
    export = system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}/export",
                         admin)
    assert export.status_code == 200
    everything = json.loads(zipfile.ZipFile(io.BytesIO(export.data)).read("export.json"))
    [contact] = everything["services"]["notifications"]["student_contacts"]
    assert contact["email"] == STUDENT and contact["student_id"] == mine["id"]


def test_a_copy_released_to_a_student_names_them_and_the_school_in_english(student_world,
                                                                          inbox):
    system, _, me, admin = student_world
    [mine] = subjects(system, me)
    request = file(system, me, "access", "student", mine["id"])
    decide(system, admin, request["id"], "approve")
    mails_to(inbox, STUDENT)
    decide(system, admin, request["id"], "release")
    _, mail = mails_to(inbox, STUDENT, count=2)
    assert unfolded(mail["Subject"]) == ("A copy of the data about Bo Rook at Hill School is "
                                         "ready to download")
    text = Inbox.text(mail)
    assert "Hill School has released the copy of the data about Bo Rook that you asked " \
           "for. You can download it in the app until " in text
    assert "Helo" not in text and "Zephyrine" not in text


def test_a_student_requester_is_mailed_the_schools_reason_for_a_refusal(student_world,
                                                                         inbox):
    system, _, me, admin = student_world
    [mine] = subjects(system, me)
    request = file(system, me, "erasure", "student", mine["id"])
    decide(system, admin, request["id"], "refuse", reason="Exam results are kept a year")
    [mail] = mails_to(inbox, STUDENT)
    assert mail["Subject"] == "Your request to Hill School was refused"
    assert "The school's reason: Exam results are kept a year" in Inbox.text(mail)
    assert holding(system, STUDENT) != []  # refused: nothing was erased


def test_a_students_own_erasure_still_mails_them_and_leaves_their_address_nowhere(
        student_world, inbox):
    system, _, me, admin = student_world
    [mine] = subjects(system, me)
    assert "notifications.student_contacts" in holding(system, STUDENT)
    request = file(system, me, "erasure", "student", mine["id"])
    decide(system, admin, request["id"], "approve")
    [mail] = mails_to(inbox, STUDENT)
    assert mail["Subject"] == "Your request to Hill School is complete"
    assert "your personal data has been erased" in Inbox.text(mail)
    wait_for(lambda: relays_idle(system), message="every outbox sent")
    assert holding(system, STUDENT) == []

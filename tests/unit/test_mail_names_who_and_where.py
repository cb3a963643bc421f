"""Issue 24: every mail about a child names the child and the school, and says how to
reach the school's office (SQLite, no broker)."""
import uuid
from dataclasses import replace
from types import SimpleNamespace

import sqlalchemy as sa

from services.notifications import languages, templates
from services.notifications.models import deliveries, school_admins
from shared.contracts import typed as ev
from tests.unit.test_notifications_unit import SCHOOL, invite_admin, notifications  # noqa: F401

OFFICE = ev.SchoolActivated(school_id=SCHOOL, name="Demo Academy",
                            office_email="office@demo.example", office_phone="01632 960 123",
                            student_accounts=False)


def _queued(rt, kind):
    with rt.engine.connect() as conn:
        return conn.execute(sa.select(deliveries).where(deliveries.c.kind == kind)).all()


def test_a_report_mail_names_the_child_and_the_school_and_how_to_reach_it():
    school = templates.School("Demo Academy", "office@demo.example", "01632 960 123")
    message = templates.report_published("https://pp.example", "Pat", "Autumn report",
                                         "2026 Autumn", "r-1", "Alex Sample", school)
    assert message.subject == "A new report for Alex Sample at Demo Academy"
    assert "Demo Academy has published a new report for Alex Sample" in message.text
    assert "office@demo.example or 01632 960 123" in message.text
    bare = templates.report_published("x", "Pat", "T", "P", "r")  # an event of old
    assert bare.subject == "A new report for your child"


def test_report_mails_of_two_children_differ_by_name(notifications):  # noqa: F811
    rt, _, _, service = notifications
    guardian, account = str(uuid.uuid4()), str(uuid.uuid4())
    children = [str(uuid.uuid4()), str(uuid.uuid4())]
    with rt.context.sessions() as session, session.begin():
        service.record_school(session, OFFICE)
        service.record_guardians(session, [(SCHOOL, ev.GuardianRecorded(**{
            "guardian_id": guardian, "given_name": "Pat", "family_name": "Parent",
            "email": "pat@example.org", "record_version": 1}))])
        service.attach_account(session, ev.AccountActivated(
            account_id=account, role="parent", guardian_ids=[guardian]), SCHOOL)
        languages.record(session, account, "en")  # their choice: English alone (issue 29)
        for child, name in zip(children, ("Alex Sample", "Sam Sample")):
            service.link_changed(session, SCHOOL, ev.ParentVerified(**{
                "link_id": str(uuid.uuid4()), "account_id": account, "guardian_id": guardian,
                "student_id": child, "record_version": 1}), True)
            service.on_report_published(
                session, SimpleNamespace(id=str(uuid.uuid4()), school_id=SCHOOL),
                ev.ReportPublished(report_id=str(uuid.uuid4()), student_id=child,
                                   period="Autumn", title="Autumn report",
                                   published_at=None, student_name=name))
    subjects = sorted(r.subject for r in _queued(rt, "report"))
    assert subjects == ["A new report for Alex Sample at Demo Academy",
                        "A new report for Sam Sample at Demo Academy"]


def test_a_locked_link_mail_names_child_and_school_and_opens_the_students_links(
        notifications):  # noqa: F811
    rt, _, _, service = notifications
    invite_admin(rt, service, "ada@example.org")
    student = str(uuid.uuid4())
    with rt.context.sessions() as session, session.begin():
        service.record_school(session, OFFICE)
        admin = session.execute(sa.select(school_admins.c.account_id)).scalar_one()
        languages.record(session, admin, "en")  # their choice: English alone (issue 29)
        service.on_link_locked(session, SimpleNamespace(id=str(uuid.uuid4()), school_id=SCHOOL),
                               ev.LinkLocked(record_version=1, link_id=str(uuid.uuid4()),
                                             account_id=str(uuid.uuid4()),
                                             guardian_id=str(uuid.uuid4()),
                                             student_id=student, student_name="Alex Sample"))
    (row,) = _queued(rt, "link_locked")
    assert row.subject == "A parent's link to Alex Sample at Demo Academy was locked"
    assert f"/links/{student}\n" in row.body_text  # the console's screen of the student
    assert "/admin/links" not in row.body_text
    assert row.student_id == student  # it names the child: erased with the child


def test_an_invitation_names_the_school_a_school_renamed_is_named_anew(notifications):  # noqa: F811,E501
    rt, _, _, service = notifications
    with rt.context.sessions() as session, session.begin():
        service.record_school(session, OFFICE)
        service.record_school(session, replace(OFFICE, name="Demo Academy Trust"))
    invite_admin(rt, service, "ada@example.org")
    (row,) = _queued(rt, "invitation")
    # A new login has chosen no language yet: both, the school's default (English) first.
    assert row.subject == ("Your Pupil Progress invitation from Demo Academy Trust / "
                           "Eich gwahoddiad i Pupil Progress: Demo Academy Trust")
    parent = templates.invitation("x", "Pat", "t" * 30, "parent",
                                  school=templates.School("Demo Academy"))
    assert "Demo Academy has set up a Pupil Progress account for you as a parent or carer." \
        in parent.text

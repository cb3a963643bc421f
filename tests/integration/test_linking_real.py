"""Linking through the real chain: a school system pushes data (ingest), the parent
activates (identity), linking attaches the link and the parent proves the child's date of
birth. Real PostgreSQL, RabbitMQ and tokens (issue 6)."""
import threading
import uuid

import pytest
import sqlalchemy as sa

from services.linking.models import links, students
from shared.messaging.envelope import new_envelope
from tests.support import publish_events, wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration


@pytest.fixture
def system(broker_settings, tmp_path, new_database):
    real = RealSystem(broker_settings, tmp_path, new_database,
                      ["identity", "ingest", "linking"])
    yield real
    real.close()


def parent_with_pending_link(system, email="pat@example.org", school=None,
                             source_prefix="") -> tuple[str, str, str]:
    """(parent token, link id, school id) for a child born 2015-03-02."""
    school, system_token = school or system.school()
    system.push(system_token, [student(f"{source_prefix}S1"),
                               guardian(f"{source_prefix}G1", email,
                                        {f"{source_prefix}S1": True})])
    token = system.activate(email)

    def pending():
        items = system.call("linking", "get", "/api/v1/links", token).json["items"]
        return items if items and items[0]["student"]["name"] else None
    (link,) = wait_for(pending, message="link attached to the parent")
    return token, link["id"], school


def verify(system, token, link_id, date):
    return system.call("linking", "post", f"/api/v1/links/{link_id}/verify", token,
                       {"date_of_birth": date})


def test_a_parent_proves_the_childs_date_of_birth(system):
    token, link_id, _ = parent_with_pending_link(system)
    (item,) = system.call("linking", "get", "/api/v1/links", token).json["items"]
    assert item["status"] == "pending" and item["student"]["name"] == "Ann Smith"

    wrong = verify(system, token, link_id, "2015-03-03")
    assert wrong.status_code == 422
    assert wrong.json["error"]["code"] == "wrong_date_of_birth"
    assert wrong.json["error"]["attempts_left"] == 2
    right = verify(system, token, link_id, "2015-03-02")
    assert right.status_code == 200 and right.json == {"status": "verified"}
    verified = system.tap.wait("ParentVerified", lambda d: d["link_id"] == link_id)
    assert verified["data"]["student_id"] == item["student"]["id"]
    assert system.call("linking", "get", "/api/v1/links", token).json["items"][0][
        "status"] == "verified"


def test_twenty_concurrent_wrong_guesses_count_exactly_three(system):
    token, link_id, _ = parent_with_pending_link(system)
    answers = []

    def guess(i):
        answers.append(verify(system, token, link_id, f"2010-01-{i + 1:02d}").status_code)
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [422] * 3 + [423] * 17
    with system.runtimes["linking"].engine.connect() as conn:
        row = conn.execute(sa.select(links.c.status, links.c.failed_attempts)).one()
    assert (row.status, row.failed_attempts) == ("locked", 3)
    system.tap.wait("LinkLocked", lambda d: d["link_id"] == link_id)
    assert verify(system, token, link_id, "2015-03-02").status_code == 423  # even right


def test_the_school_unlocks_and_revokes(system):
    token, link_id, school = parent_with_pending_link(system)
    for day in ("01", "02", "03"):
        verify(system, token, link_id, f"2010-01-{day}")
    admin = system.admin(school, "admin@example.org")
    listed = system.call("linking", "get", "/api/v1/links", admin,
                         query={"student_id": system.call("linking", "get", "/api/v1/links",
                                                          token).json["items"][0]["student"]
                                ["id"]}).json["items"]
    assert [(i["id"], i["status"]) for i in listed] == [(link_id, "locked")]
    assert system.call("linking", "post", f"/api/v1/links/{link_id}/unlock", admin
                       ).json == {"status": "pending"}
    assert verify(system, token, link_id, "2015-03-02").status_code == 200
    assert system.call("linking", "post", f"/api/v1/links/{link_id}/revoke", admin
                       ).json == {"status": "revoked"}
    system.tap.wait("LinkRevoked", lambda d: d["link_id"] == link_id)
    assert system.call("linking", "get", "/api/v1/links", token).json["items"] == []
    other_school, _ = system.school("Elsewhere")
    other_admin = system.admin(other_school, "other-admin@example.org")
    assert system.call("linking", "post", f"/api/v1/links/{link_id}/unlock", other_admin
                       ).status_code == 404


def test_another_parents_link_answers_exactly_like_a_missing_one(system):
    school_and_token = system.school()
    token_a, link_a, _ = parent_with_pending_link(system, "a@example.org", school_and_token,
                                                  "A")
    token_b, link_b, _ = parent_with_pending_link(system, "b@example.org", school_and_token,
                                                  "B")
    listed = system.call("linking", "get", "/api/v1/links", token_a).json["items"]
    assert [i["id"] for i in listed] == [link_a]
    theirs = verify(system, token_a, link_b, "2015-03-02")
    missing = verify(system, token_a, str(uuid.uuid4()), "2015-03-02")
    assert theirs.status_code == missing.status_code == 404 and theirs.json == missing.json
    with system.runtimes["linking"].engine.connect() as conn:
        untouched = conn.execute(sa.select(links.c.failed_attempts, links.c.status).where(
            links.c.id == link_b)).one()
    assert tuple(untouched) == (0, "pending")


def test_a_contact_without_receives_reports_never_gets_a_link_and_switching_it_off_revokes(
        system):
    school, system_token = system.school()
    system.push(system_token, [student("S1"), student("S2", given_name="Bo"),
                               guardian("G1", "pat@example.org", {"S1": True, "S2": False})])
    token = system.activate("pat@example.org")
    (link,) = wait_for(lambda: system.call("linking", "get", "/api/v1/links", token)
                       .json["items"], message="one link")
    assert link["student"]["name"] == "Ann Smith"  # never Bo
    assert verify(system, token, link["id"], "2015-03-02").status_code == 200
    system.push(system_token, [guardian("G1", "pat@example.org", {"S1": False, "S2": False})])
    system.tap.wait("LinkRevoked", lambda d: d["link_id"] == link["id"])
    assert system.call("linking", "get", "/api/v1/links", token).json["items"] == []
    with system.runtimes["linking"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(links).where(
            links.c.status != "revoked")).scalar_one() == 0


def test_erasing_a_student_removes_links_and_birth_date_and_late_events_change_nothing(
        system):
    token, link_id, school = parent_with_pending_link(system)
    student_id = system.call("linking", "get", "/api/v1/links", token
                             ).json["items"][0]["student"]["id"]
    # Produced before the erasure, delivered after it.
    late = [new_envelope("StudentRecorded", {"student_id": student_id, "given_name": "Ann",
                                             "family_name": "Smith", "record_version": 1},
                         producer="ingest", school_id=school),
            new_envelope("StudentBirthDateRecorded", {
                "student_id": student_id, "date_of_birth": "2015-03-02",
                "record_version": 1}, producer="ingest", school_id=school)]
    answer = system.rights_request("ErasureRequested", school, "student", student_id,
                                   "linking")
    assert answer["data"]["outcome"] == "done"
    publish_events(system.settings, *late)
    engine = system.runtimes["linking"].engine
    wait_for(lambda: _applied(engine, late), message="late events consumed")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(links)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(students)
                            ).scalar_one() == 0
        text = " ".join(str(r) for r in conn.execute(sa.text("SELECT * FROM students")))
    assert "2015-03-02" not in text
    assert system.call("linking", "get", "/api/v1/links", token).json["items"] == []


def _applied(engine, events) -> bool:
    with engine.connect() as conn:
        seen = conn.execute(sa.text("SELECT count(*) FROM inbox WHERE event_id IN (:a, :b)"),
                            {"a": events[0].id, "b": events[1].id}).scalar_one()
    return seen == 2


def test_a_schools_revocation_is_not_undone_by_the_next_push(system):
    school, system_token = system.school()
    system.push(system_token, [student("S1"), guardian("G1", "pat@example.org", {"S1": True})])
    token = system.activate("pat@example.org")
    (link,) = wait_for(lambda: system.call("linking", "get", "/api/v1/links", token)
                       .json["items"], message="link")
    admin = system.admin(school, "admin@example.org")
    system.call("linking", "post", f"/api/v1/links/{link['id']}/revoke", admin)
    renamed = guardian("G1", "pat@example.org", {"S1": True})
    renamed["data"]["given_name"] = "Patricia"  # any change re-sends the children list
    system.push(system_token, [renamed])
    engine = system.runtimes["linking"].engine
    wait_for(lambda: _count(engine, "SELECT max(record_version) FROM guardians") >= 2,
             message="new list applied")
    with engine.connect() as conn:
        status = conn.execute(sa.select(links.c.status)).scalar_one()
    assert status == "revoked"
    assert system.call("linking", "get", "/api/v1/links", token).json["items"] == []


def test_a_guardian_moved_to_another_email_leaves_the_old_login(system):
    school, system_token = system.school()
    system.push(system_token, [student("S1"), student("S2", given_name="Bo"),
                               guardian("G1", "old@example.org", {"S1": True}),
                               guardian("G2", "old@example.org", {"S2": True})])
    old = system.activate("old@example.org", records=2)  # the one login of G1 and G2
    wait_for(lambda: len(system.call("linking", "get", "/api/v1/links", old)
                         .json["items"]) == 2, message="two links")
    system.push(system_token, [guardian("G1", "new@example.org", {"S1": True})])
    # A login that loses a record is signed out (its tokens name its records), as linking
    # learns by the broker; then it signs in again: the old login still holds G2 (so it
    # stays) but no longer G1: it loses Ann's link.
    wait_for(lambda: system.call("linking", "get", "/api/v1/links", old).status_code == 401,
             message="the old login's token refused once it lost G1")
    old = system.token("old@example.org", "a-parent-password-1")
    wait_for(lambda: [i["student"]["name"] for i in system.call(
        "linking", "get", "/api/v1/links", old).json["items"]] == ["Bo Smith"],
        message="old login detached from the moved guardian")
    new = system.activate("new@example.org")
    (moved,) = wait_for(lambda: system.call("linking", "get", "/api/v1/links", new)
                        .json["items"], message="link moved to the new login")
    assert moved["student"]["name"] == "Ann Smith" and moved["status"] == "pending"


def test_a_late_removal_older_than_the_guardians_record_changes_nothing(system):
    """The school removed the contact and added them back: the removal, arriving after the
    newer record, must not revoke the link."""
    school, system_token = system.school()
    token, link_id, _ = parent_with_pending_link(system, school=(school, system_token))
    renamed = guardian("G1", "pat@example.org", {"S1": True})
    renamed["data"]["given_name"] = "Patricia"  # any change makes a newer record version
    system.push(system_token, [renamed])
    engine = system.runtimes["linking"].engine
    wait_for(lambda: _count(engine, "SELECT max(record_version) FROM guardians") >= 2,
             message="newer record applied")
    with engine.connect() as conn:
        guardian_id, version = conn.execute(sa.text(
            "SELECT guardian_id, record_version FROM guardians")).one()
    late = new_envelope("GuardianRemoved", {"guardian_id": guardian_id,
                                            "record_version": version - 1},
                        producer="ingest", school_id=school)
    publish_events(system.settings, late)
    wait_for(lambda: _count(engine, f"SELECT count(*) FROM inbox WHERE event_id = "
                                    f"'{late.id}'") == 1, message="late removal consumed")
    items = system.call("linking", "get", "/api/v1/links", token).json["items"]
    assert [i["id"] for i in items] == [link_id]


def _count(engine, sql) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one() or 0


def test_without_a_date_of_birth_links_wait_for_one_and_none_can_be_confirmed(system):
    """Issue 23: a push without date_of_birth (as a OneRoster bundle without
    demographics) takes the student; the link waits, visibly to the parent and the
    school's admins, and becomes confirmable when the school sends the date."""
    school, system_token = system.school()
    email = f"wait-{uuid.uuid4().hex[:8]}@example.org"
    without = student("S1")
    del without["data"]["date_of_birth"]
    del without["data"]["year_group"]
    system.push(system_token, [without, guardian("G1", email, {"S1": True})])
    token = system.activate(email)
    admin = system.admin(school, f"admin-{uuid.uuid4().hex[:8]}@example.org")

    def listed():
        items = system.call("linking", "get", "/api/v1/links", token).json["items"]
        return items if items and items[0]["student"]["name"] else None
    (link,) = wait_for(listed, message="link attached to the parent")
    assert link["status"] == "pending" and link["waiting_for_date_of_birth"] is True
    for guess in ("2015-03-02", "2015-03-03", "2015-03-04", "2015-03-05"):
        refused = verify(system, token, link["id"], guess)
        assert refused.status_code == 409, refused.json
        assert refused.json["error"]["code"] == "not_ready"
        assert "Waiting for the school to send" in refused.json["error"]["message"]
    (seen,) = system.call("linking", "get", "/api/v1/links/students", admin).json["items"]
    assert seen["waiting_for_date_of_birth"] is True and seen["links"]["pending"] == 1
    by_admin = system.call("linking", "get", "/api/v1/links", admin,
                           query={"student_id": seen["id"]}).json["items"]
    assert [(i["waiting_for_date_of_birth"], i["failed_attempts"]) for i in by_admin] == [
        (True, 0)]  # the answers tried meanwhile count for nothing

    system.push(system_token, [student("S1", "2015-03-02")])
    wait_for(lambda: not system.call("linking", "get", "/api/v1/links", token).json[
        "items"][0]["waiting_for_date_of_birth"], message="the date of birth arrived")
    assert verify(system, token, link["id"], "2015-03-02").json == {"status": "verified"}
    (seen,) = system.call("linking", "get", "/api/v1/links/students", admin).json["items"]
    assert seen["waiting_for_date_of_birth"] is False

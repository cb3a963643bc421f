"""OneRoster end to end on real PostgreSQL and RabbitMQ (issue 10): a school that uploads a
bundle ends in the same state downstream as a school that pushed the same data as JSON, and
a delta bundle removes a student everywhere and updates a result."""
import json

import pytest
import sqlalchemy as sa

from services.ingest import domain
from tests.oneroster_sample import PERIOD, SampleSchool, zip_bundle
from tests.support import wait_for
from tests.system import RealSystem

pytestmark = pytest.mark.integration
SERVICES = ["identity", "ingest", "linking", "reports", "notifications", "dsar"]


@pytest.fixture
def system(broker_settings, tmp_path, new_database):
    running = RealSystem(broker_settings, tmp_path, new_database, SERVICES)
    yield running
    running.close()


def count(system, service, table, school):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE school_id = :s"),
                            {"s": school}).scalar()


def record_id(system, school, record_type, source_id):
    with system.runtimes["ingest"].engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM records WHERE school_id = :s AND "
                                    "source_key = :k"), {"s": school, "k": domain.source_key(
                                        school, record_type, source_id)}).scalar()


def settled(system, school, sample):
    """Every consumer has applied the school's data (counts of each projection)."""
    students = sum(1 for r in sample.tables["roles"] if r["role"] == "student")
    results = len(sample.tables["results"])
    wait_for(lambda: count(system, "reports", "attainment", school) == results
             and count(system, "reports", "students", school) == students
             and count(system, "linking", "links", school) == students
             and count(system, "linking", "students", school) == students,
             timeout=240, message="downstream state applied")


def reports_by_source(system, school, admin, sample, title, skip=()):
    """Each student's report of this title as the school's staff read it, ids taken out."""
    seen = {}
    for user in sample.tables["users"]:
        sid = user["sourcedId"]
        student = record_id(system, school, "student", sid)
        if student is None or sid in skip:
            continue
        listed = system.call("reports", "get", f"/api/v1/students/{student}/reports", admin)
        assert listed.status_code == 200, listed.json
        item = next(i for i in listed.json["items"] if i["title"] == title)
        report = system.call("reports", "get", f"/api/v1/reports/{item['id']}", admin).json
        for key in ("id", "published_at"):
            report.pop(key)
        report["student"].pop("id")
        seen[sid] = json.dumps(report, sort_keys=True)
    return seen


def test_a_bundle_and_the_same_json_batches_end_in_the_same_state_and_a_delta_applies(system):
    sample = SampleSchool(students=200, classes=10)
    by_json, json_system = system.school("JSON School")
    by_roster, roster_system = system.school("Roster School")
    json_admin = system.admin(by_json, "admin@json.example")
    roster_admin = system.admin(by_roster, "admin@roster.example")

    events = sample.json_events()
    for start in range(0, len(events), 5000):
        system.push(json_system, events[start:start + 5000])
    assert system.call("ingest", "put", "/api/v1/school-data/oneroster/settings", roster_admin,
                       {"report_contact_roles": ["parent"]}).status_code == 200
    # The two schools' parents share emails (and so accounts): the same people.
    uploaded, job = system.upload_roster(roster_system, sample.bundle())
    assert uploaded.status_code == 202 and job["status"] == "applied", (uploaded.json, job)
    settled(system, by_json, sample)
    settled(system, by_roster, sample)

    for table in ("students", "classes", "staff", "enrolments", "attainment"):
        assert count(system, "reports", table, by_roster) == count(
            system, "reports", table, by_json), table
    for table in ("students", "guardians", "guardian_students", "links"):
        assert count(system, "linking", table, by_roster) == count(
            system, "linking", table, by_json), table
    for _school, admin in ((by_json, json_admin), (by_roster, roster_admin)):
        published = system.call("reports", "post", "/api/v1/reports/publish", admin,
                                {"period": PERIOD, "title": "Autumn report"})
        assert published.status_code == 202 and published.json["published"] == 200
    json_reports = reports_by_source(system, by_json, json_admin, sample, "Autumn report")
    roster_reports = reports_by_source(system, by_roster, roster_admin, sample, "Autumn report")
    assert len(roster_reports) == 200 and roster_reports == json_reports

    # A delta: one student leaves (tobedeleted), one result is corrected.
    leaver = record_id(system, by_roster, "student", "S0001")
    result = next(r for r in sample.tables["results"] if r["studentSourcedId"] == "S0002")
    delta = zip_bundle({
        "users": ("delta", [dict(sample.user("S0001"), status="tobedeleted",
                                 dateLastModified="2026-10-01T08:00:00Z")]),
        "results": ("delta", [dict(result, score="1", dateLastModified="2026-10-01T08:00:00Z")])})
    uploaded, job = system.upload_roster(roster_system, delta)
    assert uploaded.status_code == 202 and job["result"]["published"] > 0, job

    def removed_everywhere():
        with system.runtimes["reports"].engine.connect() as reports_db, \
                system.runtimes["linking"].engine.connect() as linking_db:
            return (not reports_db.execute(sa.text(
                        "SELECT count(*) FROM students WHERE student_id = :i"),
                        {"i": leaver}).scalar()
                    and not reports_db.execute(sa.text(
                        "SELECT count(*) FROM enrolments WHERE student_id = :i"),
                        {"i": leaver}).scalar()
                    and not linking_db.execute(sa.text(
                        "SELECT count(*) FROM students WHERE student_id = :i"),
                        {"i": leaver}).scalar()
                    and not linking_db.execute(sa.text(
                        "SELECT count(*) FROM links WHERE student_id = :i AND status != "
                        "'revoked'"), {"i": leaver}).scalar())
    wait_for(removed_everywhere, timeout=60, message="the leaver removed downstream")
    corrected = record_id(system, by_roster, "attainment", result["sourcedId"])
    with system.runtimes["reports"].engine.connect() as conn:
        wait_for(lambda: conn.execute(sa.text(
            "SELECT value FROM attainment WHERE attainment_id = :i"), {"i": corrected}
        ).scalar() == "1", timeout=60, message="the corrected result applied")
    assert system.call("reports", "post", "/api/v1/reports/publish", roster_admin, {
        "period": PERIOD, "title": "Corrected"}).json["published"] == 199
    after = reports_by_source(system, by_roster, roster_admin, sample, "Corrected",
                              skip={"S0001"})  # its archived reports stay until erased
    assert len(after) == 199
    marks = [a for s in json.loads(after["S0002"])["subjects"] for a in s["attainment"]]
    assert {"kind": "mark", "value": "1"} in [{"kind": a["kind"], "value": a["value"]}
                                              for a in marks]

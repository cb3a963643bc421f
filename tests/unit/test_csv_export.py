"""CSV cells a spreadsheet would run as formulas are neutralised (OWASP CSV injection),
in the helper and in the one place CSV leaves the system: dsar's access export."""
import csv
import datetime as dt
import io
import uuid
import zipfile

import pytest

from services.dsar.app import SPEC
from services.dsar.models import export_parts, requests
from shared.config import Settings
from shared.csv_export import csv_table, safe_cell
from shared.service import ServiceRuntime

HOSTILE = ['=HYPERLINK("http://evil.example","open")', "+1+cmd|' /C calc'!A0",
           "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_starting_a_formula_is_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Ada Byron", "2013-11-07", "a=b", "", "O'Neil", 42, -3,
                                   None, True])
def test_other_cells_are_left_as_they_are(value):
    assert safe_cell(value) == value


def test_lists_and_objects_are_json_then_checked():
    assert safe_cell({"a": 1}) == '{"a": 1}'
    assert safe_cell(["x"]) == '["x"]'


def test_a_table_round_trips_with_every_cell_safe():
    text = csv_table([{"name": value, "note": "fine"} for value in HOSTILE]
                     + [{"name": "Bo", "extra": "=1"}])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["name"] for row in rows] == ["'" + v for v in HOSTILE] + ["Bo"]
    assert rows[-1]["extra"] == "'=1" and rows[0]["extra"] == ""


def test_an_access_export_neutralises_what_people_typed(tmp_path):
    rt = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    rt.start()
    try:
        dsar = rt.context.use_cases.dsar
        school = str(uuid.uuid4())
        with rt.context.sessions() as s, s.begin():
            request = dsar.file(s, school, "access", "student", str(uuid.uuid4()), {},
                                str(uuid.uuid4()), "school_admin")
            # What the services answered: a name and a comment typed by people.
            s.execute(export_parts.insert().values(
                request_id=request["id"], service="reports", tables={"comments": [
                    {"student_id": "S1", "comment": value} for value in HOSTILE]}))
            s.execute(export_parts.insert().values(
                request_id=request["id"], service="ingest", tables={"students": [
                    {"given_name": "=WEBSERVICE(\"http://evil.example\")"}]}))
            s.execute(requests.update().where(requests.c.id == request["id"]).values(
                status="completed", export_expires_at=dsar.clock() + dt.timedelta(days=1)))
        with rt.context.sessions() as s, s.begin():
            archive = zipfile.ZipFile(io.BytesIO(dsar.export_zip(s, request["id"],
                                                                 (school,))))
        comments = list(csv.DictReader(io.StringIO(
            archive.read("reports/comments.csv").decode())))
        assert [row["comment"] for row in comments] == ["'" + v for v in HOSTILE]
        student = next(csv.DictReader(io.StringIO(
            archive.read("ingest/students.csv").decode())))
        assert student["given_name"] == "'=WEBSERVICE(\"http://evil.example\")"
        # The JSON part keeps the values as they were: it is data, not a spreadsheet.
        assert HOSTILE[0] in archive.read("export.json").decode().replace('\\"', '"')
    finally:
        rt.engine.dispose()

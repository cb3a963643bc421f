"""A sample school written two ways: as OneRoster 1.2 CSV bundles and as the equivalent
JSON batches (API.md "School data push"), so tests can compare what each yields."""
from __future__ import annotations

import csv
import io
import random
import zipfile
from dataclasses import dataclass, field

HEADERS = {
    "orgs": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
    "academicSessions": "sourcedId,status,dateLastModified,title,type,startDate,endDate,"
                        "parentSourcedId,schoolYear",
    "courses": "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,"
               "grades,orgSourcedId,subjects,subjectCodes",
    "classes": "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,"
               "classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
    "users": "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,"
             "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
             "metadata.receivesReports",
    "roles": "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,"
             "endDate,orgSourcedId,userProfileSourcedId",
    "demographics": "sourcedId,status,dateLastModified,birthDate,sex,"
                    "americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican",
    "enrollments": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
                   "userSourcedId,role,primary,beginDate,endDate",
    "lineItems": "sourcedId,status,dateLastModified,title,description,assignDate,dueDate,"
                 "classSourcedId,categorySourcedId,academicSessionSourcedId,resultValueMin,"
                 "resultValueMax",
    "results": "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,"
               "scoreStatus,score,scoreDate,comment",
}
# Every file of the 1.2 binding: a manifest names each (absent, bulk or delta).
ALL_FILES = ("academicSessions", "categories", "classes", "classResources", "courses",
             "courseResources", "demographics", "enrollments", "lineItemLearningObjectiveIds",
             "lineItems", "lineItemScoreScales", "orgs", "resources",
             "resultLearningObjectiveIds", "results", "resultScoreScales", "roles",
             "scoreScales", "userProfiles", "userResources", "users")
STAMP = "2026-09-01T08:00:00Z"
PERIOD = "Autumn 2026"
SUBJECTS = ("Maths", "English", "Science", "History", "Geography", "French", "Art",
            "Music", "Computing", "Drama")
GIVEN = ("Ann", "Bo", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lou")
FAMILY = ("Smith", "Lee", "Khan", "Jones", "Patel", "Brown", "Nowak", "Okafor", "Silva")


def zip_bundle(files: dict[str, tuple[str, list[dict]]], *, manifest_extra: dict | None = None,
               headers: dict[str, str] | None = None) -> bytes:
    """A bundle: {file name: (bulk|delta, rows as dicts by column)} plus its manifest."""
    headers = {**HEADERS, **(headers or {})}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        manifest = [("manifest.version", "1.0"), ("oneroster.version", "1.2")]
        manifest += [(f"file.{name}", files[name][0] if name in files else "absent")
                     for name in ALL_FILES]
        manifest += list((manifest_extra or {}).items())
        zf.writestr(_member("manifest.csv"), _csv(["propertyName", "value"], [dict(
            propertyName=k, value=v) for k, v in manifest]))
        for name, (_mode, rows) in files.items():
            zf.writestr(_member(f"{name}.csv"), _csv(headers[name].split(","), rows))
    return out.getvalue()


def _member(name: str) -> zipfile.ZipInfo:
    """A fixed timestamp: the same tables make the same bytes (the same bundle)."""
    info = zipfile.ZipInfo(name, date_time=(2026, 9, 1, 8, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _csv(columns: list[str], rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"status": "active", "dateLastModified": STAMP, **row})
    return text.getvalue()


@dataclass
class SampleSchool:
    """Students with a parent each (every fifth also a relative who receives nothing),
    teachers, homerooms as form groups, classes with enrollments and two results per class
    and student."""
    students: int = 200
    classes: int = 10
    seed: int = 7
    tables: dict[str, list[dict]] = field(default_factory=dict)

    def __post_init__(self):
        rnd = random.Random(self.seed)
        t = {name: [] for name in HEADERS}
        t["orgs"].append({"sourcedId": "ORG1", "name": "Hill School", "type": "school"})
        t["academicSessions"].append({"sourcedId": "TERM1", "title": PERIOD, "type": "term",
                                      "startDate": "2026-09-01", "endDate": "2026-12-18"})
        forms = [f"{y}{c}" for y in (7, 8) for c in "AB"]
        for form in forms:
            t["classes"].append({"sourcedId": f"HR-{form}", "title": form,
                                 "classType": "homeroom", "courseSourcedId": "TUTOR",
                                 "schoolSourcedId": "ORG1"})
        t["courses"].append({"sourcedId": "TUTOR", "title": "Tutor time", "orgSourcedId": "ORG1"})
        for n in range(self.classes):
            subject = SUBJECTS[n % len(SUBJECTS)]
            teacher = f"T{n:03d}"
            self._user(t, teacher, "teacher", rnd, email=f"{teacher.lower()}@hill.example")
            t["courses"].append({"sourcedId": f"CO{n}", "title": f"{subject} KS3",
                                 "subjects": subject, "orgSourcedId": "ORG1"})
            t["classes"].append({"sourcedId": f"CL{n}", "title": f"{subject} {n}",
                                 "classType": "scheduled", "courseSourcedId": f"CO{n}",
                                 "schoolSourcedId": "ORG1"})
            t["enrollments"].append({"sourcedId": f"E-{teacher}", "classSourcedId": f"CL{n}",
                                     "schoolSourcedId": "ORG1", "userSourcedId": teacher,
                                     "role": "teacher"})
            for m, (title, out_of) in enumerate((("Test 1", "50"), ("Test 2", "100"))):
                t["lineItems"].append({"sourcedId": f"LI{n}-{m}", "title": title,
                                       "classSourcedId": f"CL{n}",
                                       "academicSessionSourcedId": "TERM1",
                                       "resultValueMax": out_of})
        for n in range(self.students):
            sid, form = f"S{n:04d}", forms[n % len(forms)]
            parent = f"P{n:04d}"
            agents = [parent] + ([f"R{n:04d}"] if n % 5 == 0 else [])
            self._user(t, sid, "student", rnd, grades=form[0], agents=agents)
            born = (f"201{3 if form[0] == '7' else 2}-0{rnd.randint(1, 9)}"
                    f"-1{rnd.randint(0, 9)}")
            t["demographics"].append({"sourcedId": sid, "sex": "other", "birthDate": born})
            self._user(t, parent, "parent", rnd, email=f"{parent.lower()}@home.example",
                       agents=[sid])
            if n % 5 == 0:  # a relative on record, who receives nothing
                self._user(t, f"R{n:04d}", "relative", rnd, email=f"r{n:04d}@home.example",
                           agents=[sid])
            t["enrollments"].append({"sourcedId": f"E-{sid}-HR", "classSourcedId": f"HR-{form}",
                                     "schoolSourcedId": "ORG1", "userSourcedId": sid,
                                     "role": "student"})
            for c in sorted(rnd.sample(range(self.classes), 3)):
                t["enrollments"].append({"sourcedId": f"E-{sid}-{c}", "classSourcedId": f"CL{c}",
                                         "schoolSourcedId": "ORG1", "userSourcedId": sid,
                                         "role": "student"})
                for m, top in enumerate((50, 100)):
                    t["results"].append({"sourcedId": f"RS-{sid}-{c}-{m}",
                                         "lineItemSourcedId": f"LI{c}-{m}",
                                         "studentSourcedId": sid, "scoreStatus": "fully graded",
                                         "score": str(rnd.randint(top // 3, top))})
        self.tables = t

    @staticmethod
    def _user(t, sid, role, rnd, *, email="", grades="", agents=()):
        t["users"].append({"sourcedId": sid, "enabledUser": "true", "username": sid.lower(),
                           "givenName": rnd.choice(GIVEN), "familyName": rnd.choice(FAMILY),
                           "email": email, "grades": grades,
                           "agentSourcedIds": ",".join(agents)})
        t["roles"].append({"sourcedId": f"RO-{sid}", "userSourcedId": sid,
                           "roleType": "primary", "role": role, "orgSourcedId": "ORG1"})

    def bundle(self) -> bytes:
        """The whole school as one bulk bundle."""
        return zip_bundle({name: ("bulk", rows) for name, rows in self.tables.items()})

    def user(self, sid: str) -> dict:
        return next(u for u in self.tables["users"] if u["sourcedId"] == sid)

    def json_events(self) -> list[dict]:
        """The same school as pushed events: what a school system would send as JSON for
        the contacts who receive reports (here: parents)."""
        t = self.tables
        role = {r["userSourcedId"]: r["role"] for r in t["roles"]}
        dob = {d["sourcedId"]: d["birthDate"] for d in t["demographics"]}
        homeroom = {c["sourcedId"]: c["title"] for c in t["classes"]
                    if c["classType"] == "homeroom"}
        form = {e["userSourcedId"]: homeroom[e["classSourcedId"]] for e in t["enrollments"]
                if e["classSourcedId"] in homeroom}
        events = []
        for u in t["users"]:
            names = {"given_name": u["givenName"], "family_name": u["familyName"]}
            kind = role[u["sourcedId"]]
            if kind == "student":
                events.append({"type": "student.upserted", "source_id": u["sourcedId"], "data": {
                    **names, "date_of_birth": dob[u["sourcedId"]],
                    "form_group": form[u["sourcedId"]], "year_group": int(u["grades"])}})
            elif kind == "teacher":
                events.append({"type": "staff.upserted", "source_id": u["sourcedId"],
                               "data": {**names, "title": ""}})
            elif kind == "parent":
                events.append({"type": "guardian.upserted", "source_id": u["sourcedId"],
                               "data": {**names, "email": u["email"], "students": [
                                   {"student_id": u["agentSourcedIds"], "relationship": "parent",
                                    "receives_reports": True}]}})
        courses = {c["sourcedId"]: c for c in t["courses"]}
        for c in t["classes"]:
            if c["classType"] != "scheduled":
                continue
            members = [e for e in t["enrollments"] if e["classSourcedId"] == c["sourcedId"]]
            events.append({"type": "class.upserted", "source_id": c["sourcedId"], "data": {
                "name": c["title"], "subject": courses[c["courseSourcedId"]]["subjects"],
                "teacher_ids": sorted(e["userSourcedId"] for e in members
                                      if e["role"] == "teacher"),
                "student_ids": sorted(e["userSourcedId"] for e in members
                                      if e["role"] == "student")}})
        items = {li["sourcedId"]: li for li in t["lineItems"]}
        for r in t["results"]:
            item = items[r["lineItemSourcedId"]]
            events.append({"type": "attainment.recorded", "source_id": r["sourcedId"], "data": {
                "student_id": r["studentSourcedId"], "class_id": item["classSourcedId"],
                "period": PERIOD, "kind": "mark", "value": r["score"],
                "out_of": float(item["resultValueMax"]), "topic": item["title"]}})
        return events

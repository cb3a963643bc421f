"""The access export's summary a person reads (issue 24): grouped by what the data is,
each group present, no internal ids or hashes, printable HTML."""
import datetime as dt
import html
import html.parser
import re
import uuid

from services.dsar import summary

UUID_OR_HASH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
                          r"\b[0-9a-fA-F]{16,}\b", re.I)
GROUPS = ("Your account", "Links between parents and children", "Reports", "Emails",
          "Requests about personal data")


def _parts():
    child, parent, school = (str(uuid.uuid4()) for _ in range(3))
    return {
        "identity": {"accounts": [{"id": parent, "email": "pat@example.org",
                                   "name": "Pat Smith", "password_hash": "ab" * 32,
                                   "created_at": "2026-09-01T08:00:00+00:00"}],
                     "memberships": [{"account_id": parent, "school_id": school,
                                      "role": "parent", "name": "Pat Smith"}]},
        "linking": {"links": [{"id": str(uuid.uuid4()), "student_id": child,
                               "guardian_id": parent, "status": "verified",
                               "relationship": "Mother"}]},
        "reports": {"reports": [{"id": str(uuid.uuid4()), "student_id": child,
                                 "content": {"student": {"id": child, "name": "Alex Smith",
                                                         "year_group": 7},
                                             "subjects": [{"subject": "Maths",
                                                           "class_id": str(uuid.uuid4()),
                                                           "attainment": [{"kind": "grade",
                                                                           "value": "B+"}]}]},
                                 "published_at": "2026-11-28T09:00:00+00:00"}]},
        "notifications": {"deliveries": [{"id": 5, "event_id": str(uuid.uuid4()),
                                          "to_address": "pat@example.org",
                                          "subject": "A new report for Alex at Demo Academy",
                                          "body_html": "<p>x</p>", "status": "sent"}]},
        "dsar": {"requests": [{"id": str(uuid.uuid4()), "kind": "access",
                               "details": '{"note": "All of it, please"}',
                               "audit_hash": "0f" * 32, "status": "completed"}]},
        "ingest": {"roster_rows": []},
    }, (child, parent, school)


class _Headings(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.h2, self._in = [], False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "h2"

    def handle_data(self, data):
        if self._in:
            self.h2.append(data)
            self._in = False


def test_the_summary_is_grouped_readable_and_holds_no_ids_or_hashes():
    parts, ids = _parts()
    page = summary.render(parts, "access", dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
                          dt.datetime(2026, 12, 8, tzinfo=dt.timezone.utc))
    assert not UUID_OR_HASH.search(page), UUID_OR_HASH.search(page)
    assert not any(i in page for i in ids)
    headings = _Headings()
    headings.feed(page)
    assert [h for h in headings.h2 if h in GROUPS] == list(GROUPS)  # each, in this order
    for shown in ("Pat Smith", "pat@example.org", "Mother", "Alex Smith", "Maths", "B+",
                  "A new report for Alex at Demo Academy", "All of it, please",
                  "28 November 2026, 09:00 UTC", "until 8 December 2026"):
        assert shown in page, shown
    assert "password" not in page.lower() and "<p>x</p>" not in page  # no hash, no markup
    assert page.startswith("<!doctype html>") and "@media print" in page


def test_a_group_with_nothing_held_says_so():
    page = summary.render({"reports": {"reports": []}}, "portability", None, None)
    for group in GROUPS:
        assert f">{group}</h2>" in page
    assert page.count("Nothing of this kind is held.") == len(summary.GROUPS)
    assert "a copy you can take elsewhere" in page


# --- in the reader's language (issue 29) -------------------------------------------------
def _labels() -> set[str]:
    """Every English word the summary can show: its own messages (module constants), the
    names of the tables the services export and of their fields, the fields of a report's
    content and of identity's own export entries, and the words of ours in values."""
    from shared.config import RIGHTS_PARTICIPANTS
    from shared.rights.datamap import declaration_of

    own = {summary.TITLE, summary.INTRO, summary.INTRO_PORTABLE, summary.MADE, summary.UNTIL,
           summary.FILES, summary.CONTENTS, summary.YES, summary.NO, summary.NOTHING_HELD,
           summary.NOT_SHOWN, *(title for _, title, _ in summary.GROUPS),
           *summary.VALUE_WORDS.values()}
    tables = {"accounts", "passkeys", "requests", "rejected_events"}
    fields = set("email name role status created_at activated_at language second_factor type "
                 "enrolled_at recovery_codes_remaining last_used_at student form_group "
                 "year_group subjects subject class teachers attainment kind value out_of "
                 "topic characteristics received_at details due_at completed_at filed_as "
                 "subject_type refusal_reason extension_reason extension_months paused_at "
                 "export_expires_at export_released_at receipt note processing reason "
                 "expires_at".split())
    for service in RIGHTS_PARTICIPANTS:
        for table in declaration_of(service).tables:
            if table.subjects:  # exported
                tables.add(table.table)
                fields.update(c for c in table.columns if not summary._internal_field(c))
    return own | {summary.table_label(t) for t in tables} | {
        summary.column_label(f) for f in fields if not summary._internal_field(f)}


def test_every_word_of_the_summary_has_its_welsh():
    from shared.i18n import missing
    assert missing(summary.LOCALES, sorted(_labels())) == []


def test_a_welsh_summary_is_welsh_throughout_with_welsh_dates():
    parts, _ = _parts()
    page = summary.render(parts, "access", dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
                          dt.datetime(2026, 12, 8, tzinfo=dt.timezone.utc), "cy")
    english = summary.render(parts, "access", None, None, "en")
    assert page.startswith('<!doctype html><html lang="cy">') and 'lang="en"' in english
    page = html.unescape(page)
    headings = _Headings()
    headings.feed(page)
    assert headings.h2 == ["Eich cyfrif", "Cysylltiadau rhwng rhieni a phlant", "Adroddiadau",
                           "Negeseuon e-bost", "Ceisiadau am ddata personol",
                           "Yr hyn a anfonodd system yr ysgol"]
    for shown in ("Eich data yn Pupil Progress", "Fe'i gwnaed ar 1 Rhagfyr 2026.",
                  "Gellir ei lawrlwytho tan 8 Rhagfyr 2026.", "28 Tachwedd 2026, 09:00 UTC",
                  "<dt>Enw</dt><dd>Pat Smith</dd>", "<dt>Perthynas</dt><dd>Mother</dd>",
                  "wedi'i ddilysu", "copi o'r data", "<dt>Pwnc</dt><dd>Maths</dd>",
                  "<dt>Math</dt><dd>gradd</dd>", "Cynnwys"):
        assert shown in page, shown
    for english_word in (">Name<", ">Relationship<", "November", "December", "verified",
                         ">Status<", "It was made"):
        assert english_word not in page, english_word


def test_the_language_is_the_requesters_else_the_apps_else_the_schools():
    parts, (child, parent, school) = _parts()
    parts["identity"]["accounts"][0]["language"] = "cy"
    assert summary.language_of(parts, parent, "en", "en") == "cy"  # their own choice
    assert summary.language_of(parts, child, "cy", "en") == "cy"  # not in it: the app's
    assert summary.language_of(parts, child, None, "cy") == "cy"  # else the school's
    assert summary.language_of(parts, None, None, None) == "en"
    parts["identity"]["accounts"][0]["language"] = None
    assert summary.language_of(parts, parent, None, "cy") == "cy"

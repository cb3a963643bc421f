"""The access export's summary a person reads (issue 24): grouped by what the data is,
each group present, no internal ids or hashes, printable HTML."""
import datetime as dt
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

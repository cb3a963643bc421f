"""HTTP API of the ingest service (API.md "School data push")."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from flask import request
from flask_smorest import Blueprint

from shared.auth import answers, current_principal, operation, require
from shared.errors import ApiError
from shared.i18n import negotiate
from shared.service import current_context, in_transaction
from shared.web import bulk_body

from . import examples, ledger, oneroster, reasons, schemas
from .jobs import RosterJobs
from .service import Ingest, RosterImport

if TYPE_CHECKING:
    from .bootstrap import UseCases


def ingest() -> Ingest:
    uses: UseCases = current_context().use_cases
    return uses.ingest


def roster() -> RosterImport:
    uses: UseCases = current_context().use_cases
    return uses.roster


def jobs() -> RosterJobs:
    uses: UseCases = current_context().use_cases
    return uses.jobs


def language() -> str:
    """The reader's language (Accept-Language; English when it names none of ours): the
    reasons ingest gives are translated as they are read (reasons.py)."""
    return negotiate(request.headers.get("Accept-Language"))


blp = Blueprint("school-data", __name__, url_prefix="/api/v1/school-data",
                description="School systems push roster, results and characteristics")


@blp.route("/batches", methods=["POST"])
@require("school_system")
@answers(409, 429)
@bulk_body(schemas.MAX_BATCH_BYTES)
@blp.arguments(schemas.Batch, example=examples.BATCH)
@blp.response(202, schemas.BatchResult, example=examples.BATCH_RESULT)
def push_batch(body):
    """Push a batch of school data (events).

    Accept a batch: each valid event is applied, each invalid one reported by index.
    The school is the one the credentials belong to. The same batch_id again answers
    the same and applies nothing twice. A school's pushes are taken at a bounded pace
    (PP_INGEST_SCHOOL_EVENTS_PER_SECOND over 10 seconds, so parents' reads keep their
    speed): beyond it the batch is refused whole, 429 `push_rate_exceeded` with
    `Retry-After` (seconds); nothing of it is kept, send the same batch again after
    that wait."""
    school_id = current_principal().acting_school()  # the one its token names
    return in_transaction(lambda s: ingest().push(
        s, school_id, body["batch_id"], body["events"], paced=True))


@blp.route("/batches", methods=["GET"])
@require("school_admin", "school_system")
@blp.arguments(schemas.BatchQuery, location="query")
@blp.response(200, schemas.BatchList)
def list_batches(query):
    """List the school's batches and OneRoster bundles.

    The school's batches and OneRoster bundles, newest first, `limit` (at most 100)
    at a time; `next` is the `after` of the next page. Counts only."""
    school_id = current_principal().acting_school(query["school_id"])
    with current_context().sessions() as session:
        return ledger.list_batches(session, school_id, query["after"],
                                   query["limit"])._asdict()


@blp.route("/batches/<batch_id>", methods=["GET"])
@require("school_admin", "school_system")
@blp.response(200, schemas.BatchDetail)
def get_batch(batch_id):
    """One batch, with its rejected events.

    One batch: its counts and each rejected event's index and reason (field names,
    never the values sent), in the request's language (Accept-Language: cy or en; the
    field names as sent). 404 for another school's batch id."""
    school_id = current_principal().acting_school(request.args.get("school_id"))
    with current_context().sessions() as session:
        batch = ledger.get_batch(session, school_id, batch_id)
    return {**batch, "rejected": reasons.rows(batch["rejected"], language())}


@blp.route("/oneroster", methods=["POST"])
@require("school_system", "school_admin")
@answers(409, 422)
@operation("uploadOneRoster")
@bulk_body(oneroster.MAX_BUNDLE_BYTES)
@blp.doc(requestBody={"required": True, "description": "The OneRoster 1.2 CSV bundle: "
                      "a zip with manifest.csv (or multipart/form-data, field `bundle`)",
                      "content": {"application/zip": {"schema": {
                          "type": "string", "format": "binary"}},
                          "multipart/form-data": {"schema": {
                              "type": "object", "required": ["bundle"], "properties": {
                                  "bundle": {"type": "string", "format": "binary",
                                             "description": "The bundle's zip"}}}}}},
         parameters=[{"in": "query", "name": "school_id", "schema": {"type": "string"},
                      "description": "For an admin of several schools"}])
@blp.response(202, schemas.RosterJob, headers={"Location": {
    "description": "The job's status (GET)", "schema": {"type": "string"}}})
def upload_oneroster():
    """Upload a OneRoster 1.2 CSV bundle.

    Accept a OneRoster bundle (bulk and delta files per its manifest), to be applied as
    the same events a JSON batch carries. The bundle is checked in the request: one with
    any fault is refused whole, with every fault by file and line (422 `invalid_bundle`,
    `error.rows`), and nothing is kept. A bundle that passes is stored as a job and
    applied by the worker: the answer (202) is the job; its `status_url` tells how it
    goes (`queued`, `applying` with `progress`, then `applied` with `result`, or
    `refused` with `faults`). The same bytes again answer the same job. docs/oneroster.md
    lists the fields used. A trust's client authorised for several schools, naming none,
    has the bundle applied to each of its schools that names its own orgs
    (`school_org_ids`), each school's rows to that school alone (`result.schools`)."""
    principal = current_principal()
    trust = principal.role == "school_system" and len(principal.school_ids) > 1 \
        and not request.args.get("school_id")
    schools = list(principal.school_ids) if trust \
        else [principal.acting_school(request.args.get("school_id"))]
    upload = request.files.get("bundle") if request.mimetype == "multipart/form-data" \
        else None
    data = upload.read() if upload is not None else request.get_data(cache=False)
    if not data:
        raise ApiError(400, "bundle_missing", "Send the bundle's zip as the body "
                       "(application/zip) or as the form field `bundle`.")
    try:
        job = in_transaction(lambda s: jobs().submit(s, principal, schools, trust, data))
    except oneroster.BundleRejected as exc:
        raise ApiError(422, "invalid_bundle", f"The bundle was not applied: {exc.total} "
                       "fault(s), listed by file and line in `rows` (the first "
                       f"{oneroster.MAX_REPORTED_ERRORS}).",
                       rows=reasons.rows(exc.errors, language())) from None
    return reasons.job(job, language()), 202, {"Location": job["status_url"]}


@blp.route("/oneroster/jobs/<job_id>", methods=["GET"])
@require("school_system", "school_admin")
@operation("getOneRosterJob")
@blp.response(200, schemas.RosterJob, example=examples.ROSTER_JOB)
def oneroster_job(job_id):
    """An upload's job: its status and result.

    An upload's job: `queued`, `applying` (with `progress`: stage, done of total,
    percent), `applied` (with `result`: the counts, `ignored`, `other_orgs`), `refused`
    (with `faults` by file and line: found when it was applied, e.g. the roster held
    changed since the upload) or `failed` (our side; send it again). 404 for another
    school's job, and for a trust's job, for any caller but its client. Its faults and
    ignored rows' reasons are in the request's language (Accept-Language: cy or en)."""
    with current_context().sessions() as session:
        return reasons.job(jobs().status(session, current_principal(), job_id), language())


def _settings_school() -> str:
    """The school whose settings: an operator names it (`school_id`), an admin of several
    too."""
    principal = current_principal()
    school_id = request.args.get("school_id")
    if principal.role != "operator":
        return principal.acting_school(school_id)
    try:
        return str(uuid.UUID(school_id or ""))
    except ValueError:
        raise ApiError(422, "validation_failed", "Say which school.",
                       {"school_id": ["Required: the school's id."]}) from None


def _settings_out(settings: oneroster.Settings) -> dict:
    return {"report_contact_roles": list(settings.report_contact_roles),
            "school_org_ids": list(settings.school_orgs)}


@blp.route("/oneroster/settings", methods=["GET"])
@require("school_admin", "operator")
@answers(422)
@operation("getOneRosterSettings")
@blp.response(200, schemas.RosterSettingsOut)
def oneroster_settings():
    """The school's OneRoster settings.

    The school's OneRoster choices (`school_id` query for an operator or an admin of
    several)."""
    school_id = _settings_school()
    with current_context().sessions() as session:
        return _settings_out(roster().settings(session, school_id))


@blp.route("/oneroster/settings", methods=["PUT"])
@require("school_admin", "operator")
@operation("changeOneRosterSettings")
@blp.arguments(schemas.RosterSettings)
@blp.response(200, schemas.RosterSettingsOut)
def change_oneroster_settings(body):
    """Change the school's OneRoster settings.

    Which contacts (parent, guardian, relative) receive reports when OneRoster says
    nothing about one, and (a district or trust export) which orgs are the school's own:
    rows of only other orgs are not taken. Each setting given is changed, the others
    stay. Takes effect from the next upload."""
    school_id = _settings_school()
    settings = in_transaction(lambda s: roster().change_settings(
        s, school_id, body.get("report_contact_roles"), body.get("school_org_ids")))
    return _settings_out(settings)


BLUEPRINTS = (blp,)

"""HTTP API of the dsar service (API.md "Subject requests")."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Response, jsonify, request
from flask_smorest import Blueprint

from shared.auth import (answers, current_principal, operation, public,
                         recent_second_factor, require)
from shared.errors import ApiError, NotFound
from shared.i18n import negotiate
from shared.pages import PageQuery
from shared.rights.datamap import data_map_in
from shared.service import current_context, in_transaction

from . import examples
from .schemas import (AuditList, DataMapOut, ExtendIn, OffboardingList, OffboardingOut,
                      OwnSubjectList, PauseIn, RefuseIn, RequestIn, RequestList, RequestOut,
                      RequestQuery)
from .service import Dsar

if TYPE_CHECKING:
    from .bootstrap import UseCases


def dsar() -> Dsar:
    uses: UseCases = current_context().use_cases
    return uses.dsar


blp = Blueprint("subject-requests", __name__, url_prefix="/api/v1/subject-requests",
                description="Data subject requests, fanned out to every service")


@blp.route("", methods=["POST"])
@require("school_admin", "parent", "student")
@answers(409)
@blp.arguments(RequestIn, example=examples.REQUEST_IN)
@blp.response(201, RequestOut, example=examples.REQUEST_OUT)
def file_request(body):
    """File a subject request.

    File a request: a school admin's starts at once; a parent's or a student's
    waits for the school (`awaiting_school`). A school admin's erasure wants the second
    factor passed within 15 minutes, as approving one does (401 step_up_required).
    Once the school's offboarding is under way, 409 school_offboarded."""
    principal = current_principal()
    subject = body["subject"]
    school_id = body.get("school_id")
    if school_id is None:
        if len(principal.school_ids) != 1:
            raise ApiError(422, "validation_failed", "Say which school.",
                           {"school_id": ["Required when you belong to several."]})
        school_id = principal.school_ids[0]
    elif not principal.in_school(school_id):
        raise NotFound()
    if principal.role == "student" and subject["type"] != "student":
        raise ApiError(422, "validation_failed", "A student files about themselves.",
                       {"subject.type": ["Must be student."]})
    if principal.role != "school_admin" and not subject.get("id"):
        raise ApiError(422, "validation_failed", "Give the subject's id.",
                       {"subject.id": ["Required when filing about yourself or your "
                                       "child."]})
    return in_transaction(lambda s: dsar().file(
        s, school_id, body["kind"], subject["type"], subject.get("id"), body["details"],
        principal.account_id, principal.role, source_id=subject.get("source_id"),
        second_factor_recent=recent_second_factor(principal)))


@blp.route("", methods=["GET"])
@require("school_admin", "parent", "student")
@operation("listRequests")
@blp.arguments(RequestQuery, location="query")
@blp.response(200, RequestList)
def overdue(query):
    """List subject requests.

    A school admin: the school's requests past their due date (`scope=overdue`, the
    default), or every open one (`scope=open`: awaiting the school, in progress,
    paused) or all (`scope=all`), newest first, `limit` at a time (`next` is the
    `after` of the next page). A parent or a student: the requests they filed, newest
    first (the latest 100)."""
    principal = current_principal()
    if principal.role == "school_admin":
        if query["scope"] == "overdue":
            return {"items": in_transaction(lambda s: dsar().overdue(s, principal.school_ids)),
                    "next": None}
        return in_transaction(lambda s: dsar().for_school(
            s, principal.school_ids, query["scope"], query["after"], query["limit"]))._asdict()
    return {"items": in_transaction(lambda s: dsar().filed_by(s, principal.account_id)),
            "next": None}


@blp.route("/subjects", methods=["GET"])
@require("parent", "student")
@operation("listOwnSubjects")
@blp.response(200, OwnSubjectList)
def own_subjects():
    """Whom the caller may file a request about.

    Whom the caller may file about: their own records, and their verified children."""
    principal = current_principal()
    return {"items": in_transaction(lambda s: dsar().own_subjects(s, principal.account_id)),
            "next": None}


@blp.route("/<uuid:request_id>", methods=["GET"])
@require("school_admin", "parent", "student")
@blp.response(200, RequestOut, example=examples.REQUEST_OUT)
def get_request(request_id):
    """One subject request and its progress.

    Status, due date, days left and each service's progress."""
    principal = current_principal()
    return in_transaction(lambda s: dsar().get(s, str(request_id), principal))


def _as_school_admin(action, request_id, **body):
    """One admin action on one request, in the signed-in admin's schools and name."""
    p = current_principal()
    return in_transaction(lambda s: action(dsar(), s, str(request_id), p.school_ids,
                                           p.account_id, **body))


@blp.route("/<uuid:request_id>/approve", methods=["POST"])
@require("school_admin")
@answers(409)
@blp.response(200, RequestOut, example=examples.REQUEST_OUT)
def approve_request(request_id):
    """Approve a parent's or student's request.

    Approve a parent's or student's request. An erasure wants the second factor passed
    within 15 minutes (401 step_up_required: pass it again, then retry)."""
    return _as_school_admin(Dsar.approve, request_id,
                            second_factor_recent=recent_second_factor(current_principal()))


@blp.route("/<uuid:request_id>/refuse", methods=["POST"])
@require("school_admin")
@answers(409)
@blp.arguments(RefuseIn)
@blp.response(200, RequestOut, example=examples.REQUEST_OUT)
def refuse_request(body, request_id):
    """Refuse a request, with the reason.

    Refuse it, with the reason recorded."""
    return _as_school_admin(Dsar.refuse, request_id, **body)


@blp.route("/<uuid:request_id>/retry", methods=["POST"])
@require("school_admin")
@answers(409)
@blp.response(200, RequestOut, example=examples.REQUEST_OUT)
def retry_request(request_id):
    """Ask the silent or failed services again.

    Ask the services that failed or are silent again."""
    return _as_school_admin(Dsar.retry, request_id)


@blp.route("/<uuid:request_id>/extend", methods=["POST"])
@require("school_admin")
@answers(409)
@blp.arguments(ExtendIn)
@blp.response(200, RequestOut, example=examples.REQUEST_OUT)
def extend_request(body, request_id):
    """Extend a request's due date.

    Extend by up to two months, with a reason."""
    return _as_school_admin(Dsar.extend, request_id, **body)


@blp.route("/<uuid:request_id>/pause", methods=["POST"])
@require("school_admin")
@answers(409)
@blp.arguments(PauseIn)
@blp.response(200, RequestOut, example=examples.REQUEST_OUT)
def pause_request(body, request_id):
    """Pause a request, or resume it.

    Pause while waiting on the requester, or resume."""
    return _as_school_admin(Dsar.pause, request_id, **body)


@blp.route("/<uuid:request_id>/complete", methods=["POST"])
@require("school_admin")
@answers(409)
@blp.response(200, RequestOut, example=examples.REQUEST_OUT)
def complete_request(request_id):
    """Complete a rectification.

    Complete a rectification once the corrected data has been pushed."""
    return _as_school_admin(Dsar.complete_task, request_id)


@blp.route("/<uuid:request_id>/audit", methods=["GET"])
@require("school_admin")
@operation("getAuditTrail")
@blp.response(200, AuditList)
def audit_trail(request_id):
    """A request's audit trail.

    Every step of the request, ids only, in order (append-only)."""
    principal = current_principal()
    return {"items": in_transaction(lambda s: dsar().audit_trail(s, str(request_id),
                                                                 principal.school_ids)),
            "next": None}


@blp.route("/<uuid:request_id>/export", methods=["GET"])
@require("school_admin", "parent", "student")
@operation("downloadExport")
@blp.alt_response(200, success=True, description="The export: a zip of JSON and CSV files "
                  "and a summary to read (your-data.html)",
                  content_type="application/zip",
                  schema={"type": "string", "format": "binary"})
def export(request_id):
    """Download an access or portability export (zip).

    The access or portability export, for a limited time: a zip of JSON (export.json),
    a CSV per table, and your-data.html, a summary a person can read and print, grouped
    by what the data is (account, links, reports, emails, requests), without internal ids
    or hashes, in the requester's language (the one their account records, else the one
    they read the app in when they download it, else the school's default). The school's
    admins download it; the parent or student who filed the
    request too, once the school released it to them (POST …/release), until it
    expires (404 before)."""
    principal = current_principal()
    if principal.role == "school_admin":
        data = in_transaction(lambda s: dsar().export_zip(s, str(request_id),
                                                          principal.school_ids))
    else:
        asked = request.headers.get("Accept-Language")  # the app's language: theirs
        reading = negotiate(asked) if asked else None
        data = in_transaction(lambda s: dsar().export_zip_for_requester(
            s, str(request_id), principal.account_id, reading))
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="subject-request-{request_id}.zip"'})


@blp.route("/<uuid:request_id>/release", methods=["POST"])
@require("school_admin")
@answers(409)
@blp.response(200, RequestOut)
def release_export(request_id):
    """Release the export to the requester.

    The school's choice for an access or portability request a parent or student filed:
    hand the copy over itself (download it here), or release it to them, so they download
    it in the app until it expires (`export_released`). 409 when there is no copy to
    release (not completed, not a copy, expired) or the school filed the request itself.
    Releasing again changes nothing."""
    return _as_school_admin(Dsar.release_export, request_id)


RECEIPT_MIMETYPE = "application/jose"  # a compact JWS (RFC 7515 section 9.2.1)


def _receipt_file(token: str, name: str) -> Response:
    return Response(token + "\n", mimetype=RECEIPT_MIMETYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}.jws"'})


@blp.route("/<uuid:request_id>/receipt", methods=["GET"])
@require("school_admin")
@operation("getRequestReceipt")
@blp.alt_response(200, success=True, description="The receipt: a compact JWS",
                  content_type=RECEIPT_MIMETYPE, schema={"type": "string"})
def receipt(request_id):
    """A completed request's signed receipt.

    The receipt of a completed request: one JWS signed by dsar over every service's
    own signed answer (what it did, counts only) and the audit chain's head. Verify it
    offline with `python -m shared.receipts verify` or any JOSE library against the
    services' keys (GET /receipt-keys/{service}); docs/receipts.md. 404 until the
    request completes."""
    principal = current_principal()
    token = in_transaction(lambda s: dsar().receipt(s, str(request_id),
                                                    principal.school_ids))
    return _receipt_file(token, f"receipt-{request_id}")


data_map_blp = Blueprint("data-map", __name__, url_prefix="/api/v1/data-map",
                         description="Which personal data each part of the system holds")


@data_map_blp.route("", methods=["GET"])
@public
@operation("getDataMap")
@data_map_blp.alt_response(200, success=True, description="The data map",
                           schema=DataMapOut)
def data_map_view():
    """The map of the personal data every service keeps.

    Generated from every service's personal-data declaration (public: the web app's
    "How we keep your data safe" page), in the language Accept-Language asks for."""
    language = negotiate(request.headers.get("Accept-Language"))
    return jsonify(data_map_in(language)), 200, {"Content-Language": language}


offboardings = Blueprint("offboardings", __name__, url_prefix="/api/v1/offboardings",
                         description="Offboarded schools: each service's progress")


@offboardings.route("", methods=["GET"])
@require("operator")
@offboardings.arguments(PageQuery, location="query")
@offboardings.response(200, OffboardingList)
def list_offboardings(query):
    """List school offboardings.

    Every offboarding, by school id, `limit` (at most 100) at a time; `next` is the
    `after` of the next page."""
    return in_transaction(lambda s: dsar().offboardings(s, query["after"],
                                                        query["limit"]))._asdict()


@offboardings.route("/<uuid:school_id>", methods=["GET"])
@require("operator")
@offboardings.response(200, OffboardingOut)
def get_offboarding(school_id):
    """One school's offboarding.

    One school's offboarding: which services have erased its data. 404 until dsar
    has SchoolOffboarded (moments after DELETE /api/v1/schools/{school_id})."""
    return in_transaction(lambda s: dsar().offboarding(s, str(school_id)))


@offboardings.route("/<uuid:school_id>/receipt", methods=["GET"])
@require("operator")
@operation("getOffboardingReceipt")
@offboardings.alt_response(200, success=True, description="The offboarding certificate: "
                           "a compact JWS", content_type=RECEIPT_MIMETYPE,
                           schema={"type": "string"})
def offboarding_receipt(school_id):
    """A school's offboarding certificate.

    The offboarding certificate: every service's signed statement that the school's
    data is gone (counts only, no personal data), in one JWS dsar signed. 404 until every
    service has answered."""
    token = in_transaction(lambda s: dsar().offboarding_receipt(s, str(school_id)))
    return _receipt_file(token, f"offboarding-{school_id}")


BLUEPRINTS = (blp, data_map_blp, offboardings)

"""HTTP API of the notifications service: a parent's mail preferences, and the operator's
privacy-notice announcement."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.auth import answers, current_principal, operation, public, require
from shared.contracts.fields import SafeString, StrictBoolean, StrictDate
from shared.errors import NotFound
from shared.pages import page_of
from shared.service import current_context, in_transaction

from . import examples, witness
from .service import Notifications

if TYPE_CHECKING:
    from .bootstrap import UseCases


class PreferencesSchema(Schema):
    report_emails = StrictBoolean(required=True, metadata={
        "description": "Whether a new report is announced by email."})


MAX_NOTICE_CHARS = 100_000


class NoticeSchema(Schema):
    version = SafeString(required=True, max_length=50, validate=validate.Length(min=1),
                         metadata={"description": "The notice's version, as published."})
    effective_date = StrictDate(required=True, metadata={
        "description": "The day the version takes effect."})
    text = SafeString(required=True, single_line=False, max_length=MAX_NOTICE_CHARS,
                      validate=validate.Length(min=1), metadata={
                          "description": "The notice's words as people read them: plain "
                          "text, a blank line between paragraphs. Shown at the link the "
                          "announcement mail gives (/privacy?version=…)."})


class NoticeResult(Schema):
    notified = fields.Integer(required=True, metadata={
        "description": "How many accounts are told of the new version."})


class NoticeOut(Schema):
    version = fields.String(required=True, metadata={"description": "The notice's version."})
    effective_date = fields.Date(required=True, metadata={
        "description": "The day the version takes (or took) effect."})
    announced_at = fields.DateTime(required=True, metadata={
        "description": "When it was announced."})
    has_text = fields.Boolean(required=True, metadata={
        "description": "Whether its text is kept (not for a version announced before "
                       "texts were)."})


class NoticeText(NoticeOut):
    text = fields.String(required=True, allow_none=True, metadata={
        "description": "The notice's words (null: announced before texts were kept)."})


NoticeList = page_of(NoticeOut, "NoticeList")


def notifications() -> Notifications:
    uses: UseCases = current_context().use_cases
    return uses.notifications


prefs = Blueprint("notification-preferences", __name__,
                  url_prefix="/api/v1/notification-preferences",
                  description="What mail a parent or student wants")


@prefs.route("", methods=["GET"])
@require("parent", "student")
@prefs.response(200, PreferencesSchema, example=examples.PREFERENCES)
def get_preferences():
    """Your report-email preference.

    Report emails on or off (account and security mail always goes)."""
    account = current_principal().account_id
    return {"report_emails": in_transaction(
        lambda s: notifications().report_emails(s, account))}


@prefs.route("", methods=["PUT"])
@require("parent", "student")
@prefs.arguments(PreferencesSchema, example=examples.PREFERENCES)
@prefs.response(200, PreferencesSchema, example=examples.PREFERENCES)
def put_preferences(body):
    """Turn report emails off or on.

    Turn report emails off (an objection to that processing) or on again."""
    account = current_principal().account_id
    in_transaction(lambda s: notifications().set_report_emails(
        s, account, body["report_emails"]))
    return body


notices = Blueprint("privacy-notices", __name__, url_prefix="/api/v1/privacy-notices",
                    description="A new privacy notice, announced to every school")


@notices.route("", methods=["POST"])
@require("operator")
@operation("announcePrivacyNotice")
@answers(409)
@notices.arguments(NoticeSchema)
@notices.response(202, NoticeResult)
def announce(body):
    """Announce a new privacy-notice version.

    Tell every school's admins, ahead of its effective date, of a new version, with its
    text; their mail links to that version's text. The same again changes nothing; other
    words or another date under a version published already are refused (409): a change
    is a new version."""
    return {"notified": in_transaction(lambda s: notifications().privacy_notice(
        s, body["version"], body["effective_date"], body["text"]))}


@notices.route("", methods=["GET"])
@public
@operation("listPrivacyNotices")
@notices.response(200, NoticeList)
def versions():
    """The privacy notice's versions.

    The privacy notice's version history (public: the web app shows it to anyone)."""
    return {"items": in_transaction(lambda s: notifications().privacy_notice_versions(s)),
            "next": None}


class WitnessedHead(Schema):
    chain = fields.String(required=True, metadata={
        "description": "The chain witnessed: dsar-audit, dsar's audit trail of requests."})
    seq = fields.Integer(required=True, metadata={
        "description": "The number of the newest entry witnessed."})
    hash = fields.String(required=True, metadata={
        "description": "That entry's hash (SHA-256, hex): the chain up to it."})
    checkpoint = fields.String(required=True, metadata={
        "description": "The same, as dsar signed it: a compact JWS (typ "
                       "pp-audit-checkpoint+jws) under a key of dsar's published receipt "
                       "keys (GET /receipt-keys/dsar)."})
    witnessed_at = fields.DateTime(required=True, metadata={
        "description": "When the witness last moved on."})
    waiting = fields.Integer(required=True, metadata={
        "description": "Checkpoints received that do not follow the one held (ahead of "
                       "their turn; many and growing: the chain forked from what was "
                       "witnessed)."})


witness_api = Blueprint("audit-witness", __name__, url_prefix="/api/v1/audit-witness",
                        description="dsar's audit chain, witnessed outside its database")


@witness_api.route("", methods=["GET"])
@public
@operation("getAuditWitness")
@answers(404)
@witness_api.response(200, WitnessedHead)
def audit_witness():
    """The audit chain's head as witnessed.

    The newest head of dsar's audit chain that notifications witnessed (issue 30): give
    it to `python -m services.dsar.audit_chain check --witness`, which requires that
    entry in dsar's chain with that hash. Public: a number and hashes, which every
    receipt shows too. 404 until a first checkpoint came."""
    held = in_transaction(witness.witnessed)
    if held is None:
        raise NotFound()
    return held


@notices.route("/<path:version>", methods=["GET"])
@public
@operation("getPrivacyNotice")
@notices.response(200, NoticeText)
def version_text(version):
    """One privacy-notice version with its text.

    The version the announcement mail links to, with its words (public). 404 for a
    version never announced."""
    return in_transaction(lambda s: notifications().privacy_notice_version(s, version))


# Every blueprint, the witness's too (a merge had dropped it: GET /api/v1/audit-witness
# answered 404, so the check could not be given the witnessed head).
BLUEPRINTS = (prefs, notices, witness_api)

"""HTTP API of the notifications service: a parent's mail preferences, and the operator's
privacy-notice announcement."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.auth import current_principal, operation, public, require
from shared.contracts.fields import SafeString, StrictBoolean, StrictDate
from shared.pages import page_of
from shared.service import current_context, in_transaction

from . import examples
from .service import Notifications

if TYPE_CHECKING:
    from .bootstrap import UseCases


class PreferencesSchema(Schema):
    report_emails = StrictBoolean(required=True, metadata={
        "description": "Whether a new report is announced by email."})


class NoticeSchema(Schema):
    version = SafeString(required=True, max_length=50, validate=validate.Length(min=1),
                         metadata={"description": "The notice's version, as published."})
    effective_date = StrictDate(required=True, metadata={
        "description": "The day the version takes effect."})


class NoticeResult(Schema):
    notified = fields.Integer(required=True, metadata={
        "description": "How many accounts are told of the new version."})


class NoticeOut(Schema):
    version = fields.String(required=True, metadata={"description": "The notice's version."})
    effective_date = fields.Date(required=True, metadata={
        "description": "The day the version takes (or took) effect."})
    announced_at = fields.DateTime(required=True, metadata={
        "description": "When it was announced."})


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
@notices.arguments(NoticeSchema)
@notices.response(202, NoticeResult)
def announce(body):
    """Announce a new privacy-notice version.

    Tell every school's admins, ahead of its effective date, of a new version."""
    return {"notified": in_transaction(lambda s: notifications().privacy_notice(
        s, body["version"], body["effective_date"]))}


@notices.route("", methods=["GET"])
@public
@operation("listPrivacyNotices")
@notices.response(200, NoticeList)
def versions():
    """The privacy notice's versions.

    The privacy notice's version history (public: the web app shows it to anyone)."""
    return {"items": in_transaction(lambda s: notifications().privacy_notice_versions(s)),
            "next": None}


BLUEPRINTS = (prefs, notices)

"""HTTP API of the linking service (API.md "Parent and student", "School admin")."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask_smorest import Blueprint

from shared.auth import answers, current_principal, operation, require
from shared.errors import ApiError
from shared.service import current_context, in_transaction

from . import domain, examples, schemas, school_view
from .service import Linking

if TYPE_CHECKING:
    from .bootstrap import UseCases

blp = Blueprint("links", __name__, url_prefix="/api/v1/links",
                description="Parents prove each child's date of birth")


def linking() -> Linking:
    uses: UseCases = current_context().use_cases
    return uses.linking


@blp.route("", methods=["GET"])
@require("parent", "school_admin")
@blp.arguments(schemas.LinkQuery, location="query")
@blp.response(200, schemas.LinkList, example=examples.LINKS)
def list_links(query):
    """List links to children.

    A parent's own links; a school admin's links for one student (`student_id`)."""
    principal = current_principal()
    if principal.role == "parent":
        page = in_transaction(lambda s: linking().own_links(
            s, principal.account_id, query["after"], query["limit"]))
    else:
        if "student_id" not in query:
            raise ApiError(422, "validation_failed", "Give the student_id.",
                           {"student_id": ["Required for school admins."]})
        page = in_transaction(lambda s: linking().links_for_student(
            s, principal.school_ids, query["student_id"], query["after"],
            query["limit"]))
    return page._asdict()


@blp.route("/students", methods=["GET"])
@require("school_admin")
@operation("listSchoolStudents")
@blp.arguments(schemas.StudentQuery, location="query")
@blp.response(200, schemas.SchoolStudentList)
def school_students(query):
    """Find the school's students, with their links counted.

    The school's students by name (`name`: any part of it), each with how many
    links it has in each state; `link_status=locked` finds the links to unlock; `id`
    (repeatable, up to 100) just those students, leaving out any that is not the
    school's."""
    school_id = current_principal().acting_school(query["school_id"])
    page = in_transaction(lambda s: school_view.school_students(
        s, school_id, query["name"], query["link_status"], query["after"],
        query["limit"], query["id"]))
    return page._asdict()


@blp.route("/<uuid:link_id>/verify", methods=["POST"])
@require("parent")
@answers(409, 423)
@operation("verifyLink")
@blp.arguments(schemas.VerifyRequest, example=examples.VERIFY)
@blp.response(200, schemas.StatusOut, example=examples.VERIFIED)
def verify(body, link_id):
    """Confirm a link with the child's date of birth.

    Answer with the child's date of birth: right verifies the link; three wrong
    answers lock it until the school unlocks it."""
    principal = current_principal()
    result = in_transaction(lambda s: linking().verify(s, principal.account_id, str(link_id),
                                                       body["date_of_birth"]))
    if not result.correct:  # committed: the wrong answer counts
        raise ApiError(422, "wrong_date_of_birth",
                       "That is not the date of birth the school has."
                       + (" The link is now locked; the school can unlock it."
                          if result.status == domain.LOCKED else ""),
                       attempts_left=result.attempts_left)
    return {"status": result.status}


@blp.route("/<uuid:link_id>/unlock", methods=["POST"])
@require("school_admin", step_up=True)
@operation("unlockLink")
@blp.response(200, schemas.StatusOut)
def unlock(link_id):
    """Unlock a locked link.

    Unlock a locked link: the parent gets three answers again."""
    principal = current_principal()
    return {"status": in_transaction(lambda s: linking().unlock(s, principal.school_ids,
                                                                str(link_id)))}


@blp.route("/<uuid:link_id>/revoke", methods=["POST"])
@require("school_admin")
@operation("revokeLink")
@blp.response(200, schemas.StatusOut)
def revoke(link_id):
    """Revoke a link.

    Revoke a link: the parent loses access to the child's reports."""
    principal = current_principal()
    return {"status": in_transaction(lambda s: linking().revoke(s, principal.school_ids,
                                                                str(link_id)))}


BLUEPRINTS = (blp,)

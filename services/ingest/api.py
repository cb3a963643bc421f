"""HTTP API of the ingest service (API.md "School data push")."""
from __future__ import annotations

from flask_smorest import Blueprint

from shared.auth import current_principal, require
from shared.db import run_in_transaction
from shared.errors import ApiError
from shared.service import ServiceContext
from shared.web import bulk_body

from . import schemas
from .service import BatchConflict, Ingest, SchoolOffboarded


def build_blueprints(ctx: ServiceContext) -> list:
    ingest = Ingest(ctx.outbox, ctx.participant)
    blp = Blueprint("school-data", __name__, url_prefix="/api/v1/school-data",
                    description="School systems push roster, results and characteristics")

    @blp.route("/batches", methods=["POST"])
    @require("school_system")
    @bulk_body(schemas.MAX_BATCH_BYTES)
    @blp.arguments(schemas.Batch)
    @blp.response(202, schemas.BatchResult)
    def push_batch(body):
        """Accept a batch: each valid event is applied, each invalid one reported by index.
        The school is the one the credentials belong to. The same batch_id again answers
        the same and applies nothing twice."""
        schools = current_principal().school_ids
        if len(schools) != 1:  # a school system's token names exactly its own school
            raise ApiError(401, "unauthorized", "The token is not a school system's.")
        school_id = schools[0]
        try:
            return run_in_transaction(ctx.sessions, lambda s: ingest.push(
                s, school_id, body["batch_id"], body["events"]))
        except BatchConflict:
            raise ApiError(409, "batch_id_reused", "This batch_id was used for a different "
                           "batch; send new data under a new batch_id.") from None
        except SchoolOffboarded:
            raise ApiError(409, "school_offboarded", "This school has left Pupil Progress; "
                           "its data is no longer taken.") from None

    return [blp]

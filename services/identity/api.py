"""HTTP API of the identity service (flask-smorest blueprints)."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint

from shared.auth import TokenSigner, load_or_create_private_key
from shared.service import ServiceContext


def build_blueprints(ctx: ServiceContext) -> list:
    signer = ctx.extras.get("signer")
    if signer is None:
        signer = TokenSigner(load_or_create_private_key(ctx.settings),
                             ctx.settings.access_token_seconds)
        ctx.extras["signer"] = signer
    keys = Blueprint("keys", __name__, description="Public signing keys")

    @keys.route("/.well-known/jwks.json", methods=["GET"])
    def jwks():
        """The public keys every service uses to verify access tokens."""
        return jsonify(signer.jwks())

    return [keys]

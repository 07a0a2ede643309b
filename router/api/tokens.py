"""API tokens for admins: list them (never the token) and revoke them by name."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ..auth import list_tokens, revoke_tokens
from ..schemas.tokens import RevokedOut, TokenOut, TokensQuery
from ._common import Blueprint, ctx, requires

blp = Blueprint("tokens", __name__, url_prefix="/v1/tokens", description="API tokens")


@blp.route("")
class Tokens(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(TokensQuery, location="query")
    @blp.response(200, TokenOut(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Every live token (``?all=true``: revoked ones too): name, role, created, last used."""
        return list_tokens(ctx().db, include_revoked=query["all"])


@blp.route("/<string:name>")
class TokenByName(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, RevokedOut(many=True))
    def delete(self, name: str) -> list[dict[str, Any]]:
        """Revoke every live token named NAME; its admin sessions end too (every worker within 5 s)."""
        return revoke_tokens(ctx().db, name)

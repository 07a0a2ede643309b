"""Model versions: list and inspect (viewer); upload, shadow, canary, activate, retire, roll back (admin)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView

from ..errors import RouterError, ValidationError
from ..registry.versions import list_versions
from ..schemas.models import AuditOut, CanaryIn, ModelOut, ModelSummaryOut, PromoteIn, ReasonIn, TransitionOut
from ..services import lifecycle, model_info
from ._common import Blueprint, ctx, parse_json, requires

blp = Blueprint("models", __name__, url_prefix="/v1/models", description="Model versions and their rollout")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


@blp.route("")
class Models(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, ModelSummaryOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every version with its state and held-out metrics."""
        return list_versions(ctx().db)

    @requires("admin")
    @blp.doc(
        security=[{"bearer": []}],
        requestBody={
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "artefact": {"type": "string", "format": "binary"},
                            "card": {"type": "string", "description": "card.json"},
                        },
                    }
                }
            },
        },
    )
    @blp.response(201, TransitionOut)
    def post(self) -> tuple[dict[str, Any], int]:
        """Upload an artefact produced elsewhere with its card; it becomes a candidate once it loads and
        decides the smoke tickets in a separate process."""
        request.max_content_length = MAX_UPLOAD_BYTES  # artefacts are larger than tickets
        try:
            return self._upload()
        finally:
            for stored in request.files.values():
                stored.close()

    def _upload(self) -> tuple[dict[str, Any], int]:
        artefact, card = request.files.get("artefact"), request.form.get("card") or ""
        if artefact is None:
            raise ValidationError(
                "send the artefact as a multipart file field `artefact`", errors={"artefact": ["required"]}
            )
        raw = card.encode() if card else (request.files["card"].read() if "card" in request.files else b"")
        try:
            card_data = parse_json(raw)
        except RouterError as exc:
            problems = [m for found in exc.errors.values() for m in found] or ["invalid JSON"]
            raise ValidationError(
                f"`card` must be the model card as JSON: {exc.message}", errors={"card": problems}
            ) from None
        return lifecycle.upload(ctx(), artefact.stream, card_data, actor=g.principal.name), 201


@blp.route("/audit")
class Audit(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, AuditOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every change of what decides tickets: actor, time, reason, before and after."""
        return model_info.audit_log(ctx())


@blp.route("/rollback")
class Rollback(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(ReasonIn)
    @blp.response(200, TransitionOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Back to the version that was active before; this worker answers with it at once."""
        return lifecycle.rollback(ctx(), actor=g.principal.name, reason=data["reason"])


@blp.route("/<string:version>")
class Model(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, ModelOut)
    def get(self, version: str) -> dict[str, Any]:
        """A version's card, state, live statistics and gate reports."""
        context = ctx()
        return {**model_info.describe(context, version), "gate_reports": model_info.gate_reports(context, version)}


@blp.route("/<string:version>/lineage")
class Lineage(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200)
    def get(self, version: str) -> list[dict[str, Any]]:
        """The chain of parent versions with data fingerprints, code versions and gate results."""
        return model_info.lineage(ctx(), version)


def _promote(version: str, target: str, data: dict[str, Any]) -> dict[str, Any]:
    return lifecycle.promote(
        ctx(),
        version,
        target,
        actor=g.principal.name,
        reason=data["reason"],
        percent=data.get("percent"),
        force=data["force"],
    )


@blp.route("/<string:version>/shadow")
class Shadow(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(PromoteIn)
    @blp.response(200, TransitionOut)
    def post(self, data: dict[str, Any], version: str) -> dict[str, Any]:
        """Gate, then score every ticket with this version too, off the critical path."""
        return _promote(version, "shadow", data)


@blp.route("/<string:version>/canary")
class Canary(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(CanaryIn)
    @blp.response(200, TransitionOut)
    def post(self, data: dict[str, Any], version: str) -> dict[str, Any]:
        """Gate, then decide `percent` % of tickets (chosen by hashing the ticket id) with this version."""
        return _promote(version, "canary", data)


@blp.route("/<string:version>/activate")
class Activate(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(PromoteIn)
    @blp.response(200, TransitionOut)
    def post(self, data: dict[str, Any], version: str) -> dict[str, Any]:
        """Gate, then make this version active; every worker follows within 2 s."""
        return _promote(version, "active", data)


@blp.route("/<string:version>/retire")
class Retire(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(ReasonIn)
    @blp.response(200, TransitionOut)
    def post(self, data: dict[str, Any], version: str) -> dict[str, Any]:
        """Take a shadow or canary version out of service."""
        return lifecycle.retire(ctx(), version, actor=g.principal.name, reason=data["reason"])

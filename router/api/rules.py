"""Rule sets for admins: read (viewer), save with If-Match, validate, dry-run, versions, rollback."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView

from ..errors import ValidationError
from ..routing.ruleset import parse_ruleset
from ..schemas.rules import (
    DryRunOut,
    RollbackIn,
    RulesDraftIn,
    RulesIn,
    RulesOut,
    RulesVersionOut,
    ValidationOut,
)
from ..services import rules as service
from ._common import Blueprint, ctx, requires

blp = Blueprint("rules", __name__, url_prefix="/v1/rules", description="Routing rule sets")


def _active() -> dict[str, Any]:
    context = ctx()
    content, version, row_id = service.active_text(context.db, context.file_ruleset_text())
    return {"version": version, "source": "database" if row_id else "file", "id": row_id, "content": content}


@blp.route("")
class Rules(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, RulesOut)
    def get(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The rule set in force, its version and ETag."""
        active = _active()
        return active, 200, {"ETag": f'"{active["version"]}"'}

    @blp.doc(
        security=[{"bearer": []}],
        parameters=[{"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}],
    )
    @requires("admin")
    @blp.arguments(RulesIn)
    @blp.response(200, RulesVersionOut)
    def put(self, data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Validate and save a new version; every worker uses it within seconds."""
        context = ctx()
        saved = service.save(
            context.db,
            context.file_ruleset_text(),
            data["content"],
            if_match=request.headers.get("If-Match"),
            author=g.principal.name,
            reason=data["reason"],
            functions=context.rule_functions,
            predict=context.predictor(),
            check_groups=context.check_helpdesk_groups,
        )
        context.rules.invalidate()
        return saved, 200, {"ETag": f'"{saved["version"]}"'}


@blp.route("/validate")
class Validate(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(RulesDraftIn)
    @blp.response(200, ValidationOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Check a draft completely (shape, expressions, queues, examples) without saving it."""
        context = ctx()
        try:
            ruleset = service.validate_text(data["content"], context.rule_functions, context.predictor())
        except ValidationError as exc:
            return {"valid": False, "version": None, "problems": exc.errors}
        return {"valid": True, "version": ruleset.version, "problems": []}


@blp.route("/dry-run")
class DryRun(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(RulesDraftIn)
    @blp.response(200, DryRunOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Replay recent stored tickets through a draft and count the decisions that would change."""
        context = ctx()
        proposed = parse_ruleset(data["content"], functions=context.rule_functions)
        return service.dry_run(context, context.ruleset(), proposed, data["limit"])


@blp.route("/versions")
class Versions(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, RulesVersionOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Saved versions, newest first, with author, reason and diff."""
        return service.list_versions(ctx().db)


@blp.route("/rollback")
class Rollback(MethodView):
    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(RollbackIn)
    @blp.response(200, RulesVersionOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Make the previous saved version (or the one given) active again."""
        context = ctx()
        result = service.rollback(context.db, author=g.principal.name, reason=data["reason"], to=data["to"])
        context.rules.invalidate()
        return result

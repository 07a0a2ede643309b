"""Rules page: the rule set in force in an editor; validate, dry-run, save with a reason; versions
with their diffs and a one-click rollback.

The page keeps the version it loaded as a hidden field and saves with it as ``If-Match``: when
someone saved in between, the save is refused and the draft stays in the editor.
"""

from __future__ import annotations

import difflib
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..errors import PreconditionFailed, RouterError, ValidationError
from ..routing.ruleset import parse_ruleset
from ..services import rules as service
from . import _errors, _session, _text

bp = _errors.attach(Blueprint("web_rules", __name__, url_prefix="/admin"))
DRY_RUN_LIMIT = 1000


def _render(content: str, etag: str, status: int = 200, **extra: Any) -> tuple[str, int]:
    context = _session.ctx()
    _, version, row_id = service.active_text(context.db, context.file_ruleset_text())
    problems = extra.pop("problems", None) or []
    versions = service.list_versions(context.db)
    for v in versions:
        v["diff_lines"] = _text.diff_lines(v.get("diff"))
    page = render_template(
        "admin/rules.html",
        content=content,
        etag=etag,
        active_version=version,
        source="database" if row_id else "file",
        problems=problems,
        lines=_text.numbered_lines(content, problems),
        versions=versions,
        **extra,
    )
    return page, status


@bp.get("/rules")
@_session.page("viewer", "read the rules")
def editor() -> tuple[str, int]:
    context = _session.ctx()
    content, version, _ = service.active_text(context.db, context.file_ruleset_text())
    return _render(content, version)


@bp.post("/rules")
@_session.page("viewer", "read the rules")
def act() -> Any:
    """Validate, dry-run or save the draft in the editor, depending on the button pressed."""
    action = request.form.get("action", "validate")
    content = request.form.get("content", "").replace("\r\n", "\n")
    etag = request.form.get("etag", "")
    if action == "save":
        return _save(content, etag, request.form.get("reason", "").strip())
    if action == "dry_run":
        return _dry_run(content, etag)
    return _validate(content, etag)


def _problems(exc: ValidationError, content: str) -> list[dict[str, Any]]:
    errors = (
        exc.errors
        if isinstance(exc.errors, list)
        else [{"where": k, "message": "; ".join(map(str, v))} for k, v in dict(exc.errors).items()]
    )
    return _text.place_problems(content, errors)


def _validate(content: str, etag: str) -> tuple[str, int]:
    context = _session.ctx()
    try:
        ruleset = service.validate_text(content, context.rule_functions, context.predictor())
    except ValidationError as exc:
        return _render(content, etag, 422, problems=_problems(exc, content), outcome="invalid", message=exc.message)
    return _render(content, etag, outcome="valid", message=f"The draft is valid (it would be {ruleset.version}).")


def _dry_run(content: str, etag: str) -> tuple[str, int]:
    context = _session.ctx()
    try:
        proposed = parse_ruleset(content, functions=context.rule_functions)
    except ValidationError as exc:
        return _render(content, etag, 422, problems=_problems(exc, content), outcome="invalid", message=exc.message)
    result = service.dry_run(context, context.ruleset(), proposed, DRY_RUN_LIMIT)
    return _render(content, etag, dry_run=result)


def _save(content: str, etag: str, reason: str) -> Any:
    user = _session.need("admin", "save rules")
    if not reason:
        return _render(content, etag, 422, outcome="invalid", message="Write a reason for the change before saving.")
    context = _session.ctx()
    try:
        saved = service.save(
            context.db,
            context.file_ruleset_text(),
            content,
            if_match=etag or None,
            author=user.name,
            reason=reason,
            functions=context.rule_functions,
            predict=context.predictor(),
            check_groups=context.check_helpdesk_groups,
        )
    except PreconditionFailed as exc:
        current, _, _ = service.active_text(context.db, context.file_ruleset_text())
        conflict = {"message": exc.message, "diff_lines": _text.diff_lines(_diff(current, content))}
        return _render(content, etag, 409, conflict=conflict)
    except ValidationError as exc:
        return _render(
            content, etag, 422, problems=_problems(exc, content), outcome="invalid", message=f"Not saved: {exc.message}"
        )
    context.rules.invalidate()
    flash(f"Saved rule set {saved['version']}; every worker uses it within seconds.", "ok")
    return redirect(url_for("web_rules.editor"))


def _diff(current: str, draft: str) -> str:
    return "".join(difflib.unified_diff(current.splitlines(True), draft.splitlines(True), "saved now", "your draft"))


@bp.post("/rules/rollback")
@_session.page("viewer", "read the rules")
def rollback() -> Any:
    user = _session.need("admin", "roll back rules")
    reason = request.form.get("reason", "").strip()
    if not reason:
        flash("Not rolled back: write a reason first.", "error")
        return redirect(url_for("web_rules.editor"))
    to = request.form.get("to", "")
    context = _session.ctx()
    try:
        done = service.rollback(context.db, author=user.name, reason=reason, to=int(to) if to.isdigit() else None)
    except RouterError as exc:
        flash(f"Not rolled back: {exc.message}", "error")
        return redirect(url_for("web_rules.editor"))
    context.rules.invalidate()
    flash(f"Rolled back: rule set {done['version']} (saved version {done['id']}) is in force again.", "ok")
    return redirect(url_for("web_rules.editor"))

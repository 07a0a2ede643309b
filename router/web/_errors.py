"""Error pages for the admin blueprints: HTML for pages, JSON for the small fetch() endpoints."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, render_template
from werkzeug.exceptions import HTTPException

from ..errors import RouterError
from . import _session

log = logging.getLogger(__name__)


def _error(status: int, title: str, message: str, errors: Any = None) -> Any:
    if _session.wants_json():
        resp = jsonify({"status": status, "message": message, "errors": errors or {}})
        resp.status_code = status
        return resp
    return render_template("admin/error.html", title=title, message=message, errors=errors, status=status), status


def _router_error(exc: RouterError) -> Any:
    return _error(exc.status, exc.code.replace("_", " ").capitalize(), exc.message, exc.errors)


def _refused(exc: _session.Refused) -> Any:
    if _session.wants_json():
        user = _session.current_user()
        message = f"you cannot {exc.action}: it needs the {exc.needed} role (you have {user.role if user else 'none'})"
        return _error(403, "Not allowed", message)
    return _session.refused_page(exc)


def _csrf(_: _session.CsrfFailed) -> Any:
    if _session.wants_json():
        return _error(400, "Form refused", "missing or wrong CSRF token; reload the page")
    return _session.csrf_page()


def _http(exc: HTTPException) -> Any:
    status = exc.code or 500
    if status == 401:
        return _error(401, "Sign in", "sign in first")
    return _error(status, exc.name, exc.description or exc.name)


def _unexpected(exc: Exception) -> Any:
    log.exception("unhandled error on an admin page")
    return _error(500, "Something went wrong", "An internal error occurred; it has been logged.")


def attach(bp: Blueprint) -> Blueprint:
    """Give ``bp`` the admin error pages (called once, where the blueprint is made)."""
    bp.register_error_handler(_session.Refused, _refused)
    bp.register_error_handler(_session.CsrfFailed, _csrf)
    bp.register_error_handler(RouterError, _router_error)
    bp.register_error_handler(HTTPException, _http)
    bp.register_error_handler(Exception, _unexpected)
    return bp

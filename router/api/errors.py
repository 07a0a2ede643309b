"""Every error leaves as ``{code, status, message, errors}``; a client never sees a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import RouterError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, errors: Any = None) -> Response:
    resp = jsonify({"code": code, "status": status, "message": message, "errors": errors or {}})
    resp.status_code = status
    return resp


def _router_error(exc: RouterError) -> Response:
    if exc.status >= 500:
        log.error("service error: %s", exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.errors)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    errors: Any = {}
    message = exc.description or exc.name
    if isinstance(messages, dict):
        errors = messages.get("json", messages)
        if status == 400 and errors == ["Invalid JSON body."]:
            message, errors = "the request body is not valid JSON", {"body": ["invalid JSON"]}
        elif status == 422:
            message = "the request did not pass validation"
    code = exc.name.lower().replace(" ", "_")
    if status == 413:
        message = "the request body is larger than the limit"
    return error_response(status, code, message, errors)


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "an internal error occurred; it has been logged")


def init_app(app: Flask) -> None:
    app.register_error_handler(RouterError, _router_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)

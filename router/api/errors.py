"""Every error leaves as ``{code, status, message, errors}``; a client never sees a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import flask_smorest
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import MalformedRequest, PayloadTooLarge, RouterError, ValidationError
from ..schemas.errors import ErrorOut

log = logging.getLogger(__name__)


class Api(flask_smorest.Api):
    """flask-smorest's Api, documenting the error body the router really sends."""

    ERROR_SCHEMA = ErrorOut


def field_errors(errors: Any) -> dict[str, Any]:
    """``errors`` as an object keyed by field, whatever shape the raiser used.

    Rule-set validation lists its problems (``[{"where", "message", "line"}]``, which
    ``POST /v1/rules/validate`` answers as they are); in an error body they are keyed by ``where``.
    """
    if not errors:
        return {}
    if isinstance(errors, dict):
        return {str(k): v for k, v in errors.items()}
    out: dict[str, list[str]] = {}
    for item in errors if isinstance(errors, list | tuple) else [errors]:
        if isinstance(item, dict) and "message" in item:
            line = f"line {item['line']}: " if item.get("line") is not None else ""
            out.setdefault(str(item.get("where") or "body"), []).append(f"{line}{item['message']}")
        else:
            out.setdefault("body", []).append(str(item))
    return out


def error_response(status: int, code: str, message: str, errors: Any = None) -> Response:
    resp = jsonify({"code": code, "status": status, "message": message, "errors": field_errors(errors)})
    resp.status_code = status
    return resp


def _router_error(exc: RouterError) -> Response:
    if exc.status >= 500:
        log.error("service error: %s", exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.errors)


#: Errors Flask and webargs raise speak the words of the RouterError with the same status, so a query
#: that fails validation is a ``validation_error`` like a body that does.
_CODES = {
    PayloadTooLarge.status: PayloadTooLarge.code,
    ValidationError.status: ValidationError.code,
    500: "internal_error",
}


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    errors: Any = {}
    message = exc.description or exc.name
    if isinstance(messages, dict):
        # webargs keys its messages by location (json, query, ...); one decorator parses one location
        errors = next(iter(messages.values())) if len(messages) == 1 else messages
        if status == 400 and errors == ["Invalid JSON body."]:
            message, errors = "the request body is not valid JSON", {"body": ["invalid JSON"]}
        elif status == 422:
            message = "the request did not pass validation"
    code = _CODES.get(status) or exc.name.lower().replace(" ", "_")
    if status == 400 and errors == {"body": ["invalid JSON"]}:
        code = MalformedRequest.code
    if status == 413:
        message = "the request body is larger than the limit"
    response = error_response(status, code, message, errors)
    for name, value in exc.get_headers():  # a 405's Allow, a 401's WWW-Authenticate ...
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "an internal error occurred; it has been logged")


def init_app(app: Flask) -> None:
    app.register_error_handler(RouterError, _router_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)

"""Helpers the resources share: the service context, roles, and body checks."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
from flask import Request, current_app, g, request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from ..auth import Principal, authenticate, require
from ..context import Context
from ..errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType, ValidationError

F = TypeVar("F", bound=Callable[..., Any])


def ctx() -> Context:
    context: Context = current_app.extensions["router"]
    return context


def principal(role: str) -> Principal:
    who = authenticate(ctx().db, request.headers.get("Authorization"))
    require(who, role)
    g.principal = who
    return who


def requires(role: str) -> Callable[[F], F]:
    """The view needs a bearer token with at least ``role``."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal(role)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def json_body_bytes() -> bytes:
    """The raw body of a JSON request, checked for type and size before anything parses it."""
    limit = ctx().settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"send the ticket as application/json, not {request.mimetype or 'no content type'}",
            errors={"Content-Type": ["must be application/json"]},
        )
    body = request.get_data(cache=True)
    if len(body) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    return body


MAX_JSON_DEPTH = 64
_REFUSED_CHARS = re.compile("[\x00\ud800-\udfff]")


class _Refused:
    """A value the parser met but refuses; the walk reports it with the field it sits in."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out[key] = _Refused("appears more than once in its object") if key in out else value
    return out


def _float(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused(f"{text} is out of the range of a double")


def _int(text: str) -> int | _Refused:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return _Refused("has too many digits")


def _constant(text: str) -> _Refused:
    return _Refused(f"{text} is not a JSON number")


def _char_problem(text: str) -> str | None:
    found = _REFUSED_CHARS.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains a lone UTF-16 surrogate"


def _walk(payload: Any) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Every refused value by field path: (problems of the JSON text, refused characters)."""
    syntax: dict[str, list[str]] = {}
    chars: dict[str, list[str]] = {}
    stack: list[tuple[str, Any, int]] = [("", payload, 0)]
    while stack:
        path, value, depth = stack.pop()
        name = path or "body"
        if isinstance(value, _Refused):
            syntax.setdefault(name, []).append(value.problem)
        elif isinstance(value, str):
            problem = _char_problem(value)
            if problem:
                chars.setdefault(name, []).append(problem)
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                syntax.setdefault(name, []).append(f"nests objects and arrays more than {MAX_JSON_DEPTH} deep")
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                key_text = str(key)
                problem = _char_problem(key_text)
                key_text = _REFUSED_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", key_text)
                child = f"{path}.{key_text}" if path else key_text
                if problem:
                    chars.setdefault(child, []).append(f"its key {problem}")
                stack.append((child, item, depth + 1))
    return syntax, chars


def parse_json(body: bytes) -> Any:
    """A request body as JSON, refusing what parses differently elsewhere or cannot be stored.

    Strict UTF-8; no duplicate keys (a signed body must mean one thing to every parser); no NaN,
    Infinity or numbers out of a double's range (they have no JSON form to answer with); nesting at
    most ``MAX_JSON_DEPTH`` deep; no NUL characters or lone surrogates in keys or strings (PostgreSQL
    and UTF-8 cannot store them). Problems name the field: 400 for the JSON text, 422 for characters.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(
            f"the request body is not UTF-8 (byte {exc.start})", errors={"body": ["invalid UTF-8"]}
        ) from None
    try:
        payload = json.loads(
            text, object_pairs_hook=_pairs, parse_float=_float, parse_int=_int, parse_constant=_constant
        )
    except json.JSONDecodeError as exc:
        raise MalformedRequest(
            f"the request body is not valid JSON: {exc}", errors={"body": ["invalid JSON"]}
        ) from None
    except RecursionError:
        raise MalformedRequest(
            f"the request body nests objects and arrays more than {MAX_JSON_DEPTH} deep",
            errors={"body": [f"nested more than {MAX_JSON_DEPTH} deep"]},
        ) from None
    syntax, chars = _walk(payload)
    if syntax:
        raise MalformedRequest(f"the request body has values JSON cannot carry: {_fields(syntax)}", errors=syntax)
    if chars:
        raise ValidationError(
            f"the request body has characters the router cannot store: {_fields(chars)}", errors=chars
        )
    return payload


def refuse_nul_in_parameters() -> None:
    """Path, query and form fields with a NUL character are refused before a view sees them.

    PostgreSQL cannot take NUL in text, so without this the same request would be a 404 on SQLite
    and a 500 on PostgreSQL; refusing it everywhere makes both databases answer alike.
    """
    found: dict[str, list[str]] = {}
    if "\x00" in request.path:
        found["path"] = ["contains a NUL character"]
    sources = [request.args]
    if request.mimetype == "application/x-www-form-urlencoded":  # uploads set their own size limit first
        sources.append(request.form)
    for values in sources:
        for name, value in values.items(multi=True):
            if "\x00" in name or "\x00" in value:
                found.setdefault(name.replace("\x00", "\\u0000"), []).append("contains a NUL character")
    if found:
        raise ValidationError(f"NUL characters are not accepted: {_fields(found)}", errors=found)


class _Arguments(FlaskParser):
    """webargs' Flask parser with the router's JSON rules, so schema'd bodies are parsed like tickets."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return core.missing
        return parse_json(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest blueprint whose ``@arguments`` bodies go through :func:`parse_json`."""

    ARGUMENTS_PARSER = _Arguments()


def _fields(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {problems[0]}" for name, problems in sorted(errors.items())[:5])

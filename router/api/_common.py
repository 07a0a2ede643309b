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
# Only an escape can put NUL or a surrogate into a decoded string (strict UTF-8 and JSON allow neither raw)
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class _Refused:
    """A value the parser met but refuses; the walk reports it with the field it sits in."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _char_problem(text: str) -> str | None:
    found = _REFUSED_CHARS.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains a lone UTF-16 surrogate"


def _name(path: tuple[Any, ...]) -> str:
    if not path:
        return "body"
    return ".".join(_REFUSED_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", str(k)) for k in path)


def _too_deep(payload: Any) -> tuple[Any, ...] | None:
    """The path of a container nested deeper than ``MAX_JSON_DEPTH``, visiting containers only."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), payload)] if type(payload) in (dict, list) else []
    while stack:
        path, node = stack.pop()
        if len(path) >= MAX_JSON_DEPTH:
            return path
        items: Any = node.items() if type(node) is dict else enumerate(node)
        stack.extend(((*path, k), v) for k, v in items if type(v) is dict or type(v) is list)
    return None


def _walk(payload: Any, chars_too: bool) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Every refused value by field path: (problems of the JSON text, refused characters)."""
    syntax: dict[str, list[str]] = {}
    chars: dict[str, list[str]] = {}

    def check(path: tuple[Any, ...], value: Any) -> None:
        if type(value) is _Refused:
            syntax.setdefault(_name(path), []).append(value.problem)
        elif chars_too and type(value) is str and (problem := _char_problem(value)):
            chars.setdefault(_name(path), []).append(problem)

    check((), payload)
    stack: list[tuple[tuple[Any, ...], Any]] = [((), payload)] if type(payload) in (dict, list) else []
    while stack:
        path, node = stack.pop()
        if len(path) >= MAX_JSON_DEPTH:
            syntax.setdefault(_name(path), []).append(f"nests objects and arrays more than {MAX_JSON_DEPTH} deep")
            continue
        items: Any = node.items() if type(node) is dict else enumerate(node)
        for key, value in items:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append(((*path, key), value))
            elif kind is str or kind is _Refused:
                check((*path, key), value)
            if chars_too and type(key) is str and (problem := _char_problem(key)):
                chars.setdefault(_name((*path, key)), []).append(f"its key {problem}")
    return syntax, chars


def parse_json(body: bytes) -> Any:
    """A request body as JSON, refusing what parses differently elsewhere or cannot be stored.

    Strict UTF-8; no duplicate keys (a signed body must mean one thing to every parser); no NaN,
    Infinity or numbers out of a double's range (they have no JSON form to answer with); nesting at
    most ``MAX_JSON_DEPTH`` deep; no NUL characters or lone surrogates in keys or strings (PostgreSQL
    and UTF-8 cannot store them). Problems name the field: 400 for the JSON text, 422 for characters.
    The decoded value is walked only when the text could hold one of these, so an ordinary ticket
    costs little more than ``json.loads``.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(
            f"the request body is not UTF-8 (byte {exc.start})", errors={"body": ["invalid UTF-8"]}
        ) from None
    refused: list[_Refused] = []

    def refuse(problem: str) -> _Refused:
        refused.append(_Refused(problem))
        return refused[-1]

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            out[key] = refuse("appears more than once in its object") if key in out else value
        return out

    def number(text: str) -> float | _Refused:
        value = float(text)
        return value if math.isfinite(value) else refuse(f"{text} is out of the range of a double")

    def integer(text: str) -> int | _Refused:
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            return refuse("has too many digits")

    try:
        payload = json.loads(
            text,
            object_pairs_hook=pairs,
            parse_float=number,
            parse_int=integer,
            parse_constant=lambda name: refuse(f"{name} is not a JSON number"),
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
    suspect = _SUSPECT_ESCAPE.search(text) is not None
    shallow = text.count("[") + text.count("{") <= MAX_JSON_DEPTH
    if not refused and not suspect and (shallow or _too_deep(payload) is None):
        return payload  # the common case: nothing to name, so no walk over every value
    syntax, chars = _walk(payload, chars_too=suspect)
    if syntax:
        raise MalformedRequest(f"the request body has values JSON cannot carry: {_fields(syntax)}", errors=syntax)
    if chars:
        message = f"the request body has characters the router cannot store: {_fields(chars)}"
        raise ValidationError(message, errors=chars)
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

"""Helpers the resources share: the service context, roles, and body checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from ..auth import Principal, authenticate, require
from ..context import Context
from ..errors import PayloadTooLarge, UnsupportedMediaType

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

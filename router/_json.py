"""JSON encoded with orjson: the stored JSON columns and the API's answers.

The standard library's encoder is a measurable part of a ticket's cost (the decision's explanation
and trace columns, then the answer); orjson writes the same JSON several times faster. Where it
refuses a value the standard encoder takes (an integer beyond 64 bits, a non-finite float), the
standard encoder answers as before, so nothing that was accepted is now an error.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _plain(value: Any) -> Any:
    """numpy scalars and other ``.item()`` values as Python numbers; anything else is refused."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_column(value: Any) -> str:
    """A JSON column's text (SQLAlchemy's ``json_serializer``)."""
    try:
        return orjson.dumps(value, default=_plain, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError: too large an integer, a NaN it writes as null...
        return json.dumps(value, default=_plain)


def loads_column(text: str | bytes) -> Any:
    """A JSON column's value (SQLAlchemy's ``json_deserializer``); older rows may hold ``NaN``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson's encoder; dates, dataclasses and the rest still go through
    Flask's ``default`` (an HTTP date for a datetime, as before), keys are sorted as before."""

    def _encode(self, obj: Any, indent: bool) -> bytes:
        option = _OPTIONS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
        if self.sort_keys:
            option |= orjson.OPT_SORT_KEYS
        if indent:
            option |= orjson.OPT_INDENT_2
        return orjson.dumps(obj, default=self.default, option=option)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if set(kwargs) <= {"indent", "separators"}:
            try:
                return self._encode(obj, bool(kwargs.get("indent"))).decode()
            except TypeError:
                pass
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        obj = self._prepare_response_obj(args, kwargs)
        indent = (self.compact is None and self._app.debug) or self.compact is False
        try:
            body = self._encode(obj, indent) + b"\n"
        except TypeError:
            return super().response(obj)
        return self._app.response_class(body, mimetype=self.mimetype)

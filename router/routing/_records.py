"""The records conditions read (``ticket``, ``prediction``, ``now``): declared fields only, null-safe."""

from __future__ import annotations

import contextlib
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from router.routing._limits import (
    EvaluationError,
    Limits,
)

PLAIN, DATETIME, UNKNOWN = "plain", "datetime", "unknown"  # static types of fields and sub-expressions


@dataclass(frozen=True, eq=False)
class RecordType:
    """The declared fields of a record: each is PLAIN, DATETIME, a nested RecordType or ``ListOf``."""

    name: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class ListOf:
    """A field holding a list of records of type ``item``."""

    item: RecordType


REQUESTER = RecordType("requester", dict.fromkeys(("email", "name", "tier"), PLAIN))
ALTERNATIVE = RecordType("alternative", dict.fromkeys(("intent", "confidence"), PLAIN))
TICKET = RecordType(
    "ticket",
    {
        **dict.fromkeys(("subject", "body", "text", "channel", "tags", "language", "metadata"), PLAIN),
        "requester": REQUESTER,
        "created_at": DATETIME,
    },
)
PREDICTION = RecordType(
    "prediction",
    {**dict.fromkeys(("intent", "confidence", "novelty"), PLAIN), "alternatives": ListOf(ALTERNATIVE)},
)
NAME_TYPES: Mapping[str, Any] = {"ticket": TICKET, "prediction": PREDICTION, "now": DATETIME}
CONDITION_NAMES = frozenset(NAME_TYPES)
DEFAULT_LIMITS = Limits()
_LITERALS = (str, int, float, bool, type(None))  # the constants a condition may write

# Read-only fields of time values (computed, so no method is ever reachable).
_DATE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "weekday": lambda d: d.weekday(),
}
_TIME_FIELDS: dict[str, Callable[[Any], Any]] = {
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
}
_DELTA_FIELDS: dict[str, Callable[[Any], Any]] = {
    "days": lambda t: t.days,
    "seconds": lambda t: t.seconds,
    "total_seconds": lambda t: t.total_seconds(),
}
_DATETIME_FIELDS = {**_DATE_FIELDS, **_TIME_FIELDS}
_VALUE_FIELDS: tuple[tuple[type, dict[str, Callable[[Any], Any]]], ...] = (
    (datetime, _DATETIME_FIELDS),
    (date, _DATE_FIELDS),
    (timedelta, _DELTA_FIELDS),
)
_KNOWN_ATTRIBUTES = frozenset(
    [f for t in (TICKET, REQUESTER, PREDICTION, ALTERNATIVE) for f in t.fields]
    + [f for _, fields in _VALUE_FIELDS for f in fields]
)

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


class Record:
    """Read-only view over a mapping that exposes only the fields its :class:`RecordType` declares."""

    __slots__ = ("_data", "_type")
    _type: RecordType
    _data: Mapping[str, Any]

    def __init__(self, record_type: RecordType, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_type", record_type)
        object.__setattr__(self, "_data", data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("records are read-only")

    @property
    def type_name(self) -> str:
        return self._type.name

    def field(self, name: str) -> Any:
        """The value of a declared field (None when missing); nested records and record lists are wrapped."""
        kind = self._type.fields.get(name)
        if kind is None:
            raise EvaluationError(f"{self._type.name} has no field {name!r}")
        value = self._data.get(name)
        if isinstance(kind, RecordType) and isinstance(value, Mapping):
            return Record(kind, value)
        if isinstance(kind, ListOf) and isinstance(value, list | tuple):
            return tuple(Record(kind.item, v) if isinstance(v, Mapping) else v for v in value)
        return value

    def __repr__(self) -> str:
        present = [name for name in self._type.fields if self._data.get(name) is not None]
        shown = (f"{name}={_REPR.repr(self._data[name])}" for name in present)
        return f"<{self._type.name} {', '.join(shown)}>"


def ticket_record(data: Mapping[str, Any]) -> Record:
    """Wrap a ticket dict; ``text`` defaults to subject + body; ISO ``created_at`` strings are parsed."""
    if isinstance(data, Record):
        return data
    values = dict(data)
    if values.get("text") is None:
        parts = [p for p in (values.get("subject"), values.get("body")) if isinstance(p, str) and p]
        values["text"] = "\n".join(parts) if parts else None
    if isinstance(values.get("created_at"), str):
        with contextlib.suppress(ValueError):
            values["created_at"] = datetime.fromisoformat(values["created_at"])
    return Record(TICKET, values)


def prediction_record(data: Mapping[str, Any]) -> Record:
    """Wrap a prediction dict (intent, confidence, alternatives [{intent, confidence}], novelty)."""
    return data if isinstance(data, Record) else Record(PREDICTION, dict(data))

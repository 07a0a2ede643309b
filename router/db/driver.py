"""The intake path's hottest statements, run on the database driver's own cursor.

``Connection.execute`` spends more time in SQLAlchemy (cache key, execution context, parameter
processing, result wrapping) than the driver spends running a one-row ``INSERT``. A
:class:`DriverStatement` compiles a Core statement once per dialect with a fixed set of
parameter names, keeps each parameter's bind processor (the JSON columns' serializer, SQLite's
date-time format), and runs it on the driver cursor of the SQLAlchemy connection it is given:
inside that connection's transaction, so commit and rollback stay SQLAlchemy's. Driver errors are
raised as SQLAlchemy's (an ``IntegrityError`` stays an ``IntegrityError``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

_Processor = Callable[[Any], Any] | None


class _Compiled:
    __slots__ = ("names", "positional", "processors", "sql")

    def __init__(self, stmt: ClauseElement, keys: Sequence[str], dialect: Any) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        self.sql: str = compiled.string
        self.positional = bool(compiled.positiontup)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or compiled.binds)
        processors: dict[str, _Processor] = {}
        for name in self.names:
            processors[name] = compiled.binds[name].type._cached_bind_processor(dialect)
        self.processors = processors
        missing = set(self.names) - set(keys)
        if missing:  # a default SQLAlchemy would compute at execution time: not supported here
            raise ValueError(f"the statement needs parameters not given: {sorted(missing)}")

    def parameters(self, params: Mapping[str, Any]) -> Any:
        procs = self.processors
        if self.positional:
            return [p(params[n]) if (p := procs[n]) is not None else params[n] for n in self.names]
        return {n: p(params[n]) if (p := procs[n]) is not None else params[n] for n in self.names}


class DriverStatement:
    """A Core statement with fixed parameter names, compiled once per dialect, run on the driver."""

    def __init__(self, stmt: ClauseElement, keys: Sequence[str]) -> None:
        self.stmt = stmt
        self.keys = tuple(keys)
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Any) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = _Compiled(self.stmt, self.keys, dialect)
        return found

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run the statement in ``conn``'s transaction; returns the driver's cursor."""
        if not conn.in_transaction():  # as Connection.execute would: commit() then commits this
            conn.begin()
        dialect = conn.dialect
        compiled = self.compiled(dialect)
        args = compiled.parameters(params)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, args)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(compiled.sql, args, exc, dialect.loaded_dbapi.Error) from exc
        return cursor

    def one(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row as a tuple (or None), for a ``SELECT`` or an ``INSERT ... RETURNING``."""
        cursor = self.execute(conn, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

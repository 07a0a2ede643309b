"""Engine and session handling. Services own their transactions through ``Database.session()``."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from .._json import dumps_column, loads_column

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)

#: Set by ``router serve`` before it forks its workers, each of which runs a :class:`Checkpointer`:
#: their connections then leave SQLite's WAL checkpoints to it instead of running one in a commit.
BACKGROUND_CHECKPOINTS = False


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    if BACKGROUND_CHECKPOINTS:
        cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for in-memory SQLite and other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            json_serializer=dumps_column,
            json_deserializer=loads_column,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        json_serializer=dumps_column,
        json_deserializer=loads_column,
    )


class Database:
    """One engine per process (created lazily, so a forked worker builds its own)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._writers = _WriterQueue(url)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
            self._factory = sessionmaker(self._engine, expire_on_commit=False)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any exception."""
        self.engine  # noqa: B018 - builds the factory
        assert self._factory is not None
        with self._factory() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A Core transaction for read-check-write, committed when the block ends.

        What the block reads cannot change before it writes: SQLite takes its write lock at the
        start (``BEGIN IMMEDIATE``; otherwise it would only lock at the first write, after the
        check); on PostgreSQL the block locks what it reads with ``SELECT ... FOR UPDATE``.
        SQLite writers queue for their turn first (see :class:`_WriterQueue`).
        """
        with self._writers.turn(), self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._factory = None


class Checkpointer:
    """SQLite's WAL checkpoints in a thread of their own, out of the requests' commits.

    By default the commit that takes the WAL past 1,000 pages copies them into the database file and
    syncs it before its request is answered: at a few hundred tickets a second, one ticket in fifty
    waits for that. Here, every ``interval_s``, a passive checkpoint copies what is committed while
    writers go on; once the WAL holds ``reset_frames`` pages (32 MiB of 4 KiB pages), a second one, in
    the writers' turn, copies the little that arrived meanwhile, so the WAL is wholly copied and the
    next writer starts it again from the top (without that, steady writes would grow it without bound).
    SQLite files only; each served worker runs one, and a busy answer (the other worker's checkpoint)
    is simply the next interval's work.
    """

    def __init__(self, db: Database, interval_s: float = 1.0, reset_frames: int = 8192) -> None:
        self.path = _sqlite_file(db.url)
        self.reset_frames = reset_frames
        self.writers = db._writers
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Checkpointer:
        if self.path is not None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """One round: (busy, WAL frames, frames copied) of its last checkpoint."""
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames >= self.reset_frames:
            with self.writers.turn():
                busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(copied)

    def _run(self) -> None:
        assert self.path is not None
        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error as exc:  # the next interval tries again
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()


class _WriterQueue:
    """SQLite writers of one database file take turns: a lock within the process, ``flock`` on a
    file beside the database across processes. A writer that finds SQLite's lock taken sleeps in
    SQLite's busy handler (1, 2, 5, 10 ... ms) however soon the lock frees; the kernel wakes a
    ``flock`` waiter the moment it is released. Nothing to do for other databases."""

    def __init__(self, url: str) -> None:
        path = _sqlite_file(url)
        self.path = path.with_name(path.name + "-writers.lock") if path is not None else None
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        with self._lock:
            if self._fd is None or self._pid != os.getpid():  # a forked worker opens its own
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the schema to the newest migration (safe to run on every start)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()

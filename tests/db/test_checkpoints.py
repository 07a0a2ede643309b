"""Served workers leave SQLite's WAL checkpoints to a thread: commits skip them, the WAL stays bounded."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from router.db import session
from router.db.session import Checkpointer, Database


def _write(db: Database, rows: int) -> None:
    for i in range(rows):
        with db.write() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 3000 + str(i)})


def _wal_frames(path: Path) -> int:
    """Frames in use in the WAL, read without touching it: ``mxFrame`` of the WAL-index header
    (https://www.sqlite.org/walformat.html, a native-order u32 at offset 16 of the ``-shm`` file)."""
    with open(f"{path}-shm", "rb") as fh:
        fh.seek(16)
        return int.from_bytes(fh.read(4), sys.byteorder)


def _restarted(db: Database, path: Path) -> None:
    """Writes go on until the WAL starts again from the top (within 20 s, however loaded the machine)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _write(db, 10)
        if _wal_frames(path) < 500:
            return
    pytest.fail(f"the WAL was never started again from the top ({_wal_frames(path)} frames)")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setattr(session, "BACKGROUND_CHECKPOINTS", True)
    database = Database(f"sqlite:///{tmp_path / 'router.db'}")
    with database.write() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    return database


def test_commits_leave_the_wal_to_the_checkpointer_which_keeps_it_bounded(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    _write(db, 1500)  # ~1,500 pages: SQLite's own commit-time checkpoint would have run at 1,000
    grown = _wal_frames(path)
    assert grown > 1500, "a served worker's commit runs no checkpoint"

    checkpointer = Checkpointer(db, interval_s=0.05, reset_frames=1000).start()
    try:
        _restarted(db, path)
        for _ in range(5):  # steady writes: each time the WAL is copied and started again
            _write(db, 300)
            _restarted(db, path)
    finally:
        checkpointer.stop()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() >= 1500 + 5 * 300
    db.dispose()


def test_other_databases_run_no_checkpointer() -> None:
    checkpointer = Checkpointer(Database("postgresql+psycopg://postgres@127.0.0.1:5432/none")).start()
    assert checkpointer._thread is None
    checkpointer.stop()

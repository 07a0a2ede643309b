"""``router serve``: gunicorn with several workers, each building its own app and engine."""

from __future__ import annotations

import email.utils
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import gunicorn.util
from gunicorn.app.base import BaseApplication

from .config import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return create_app()


def _child_exit(_server: Any, worker: Any) -> None:
    # Runs in the master's SIGCHLD handler: it must not import anything (a second signal during
    # an import leaves a half-initialised module); `run` imported prometheus_client beforehand.
    sys.modules["prometheus_client.multiprocess"].mark_process_dead(worker.pid)


def _post_worker_init(worker: Any) -> None:
    """Load and warm the active model before the worker takes its first request."""
    context = worker.wsgi.extensions["router"]
    context.runtime.freeze_gc = True
    context.runtime.refresh_in_background = True
    try:
        context.runtime.refresh()
    except Exception:  # the worker still serves; /readyz reports what is missing
        worker.log.exception("could not load the active model at start")
    # SQLite: WAL checkpoints in a thread of this worker, not in a request's commit (``run`` set the
    # workers' connections to leave them to it).
    from .db.session import Checkpointer

    worker.router_checkpointer = Checkpointer(context.db).start()
    if context.settings.delivery_thread:
        # Write-back: each worker drains the outbox (woken by its own commits, polling for the rest).
        worker.router_delivery = context.delivery.start()
    if context.settings.scheduler:
        # Every worker schedules the jobs; a lease in the database lets one process run each run
        # (the model guardrail watch is one of them).
        from .monitoring.scheduler import MonitoringScheduler

        worker.router_scheduler = MonitoringScheduler(context).start()


def _worker_exit(_server: Any, worker: Any) -> None:
    """SIGTERM (or any worker stop): stop scheduling before the worker goes."""
    scheduler = getattr(worker, "router_scheduler", None)
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    delivery = getattr(worker, "router_delivery", None)
    if delivery is not None:
        delivery.stop(timeout=5)
    checkpointer = getattr(worker, "router_checkpointer", None)
    if checkpointer is not None:
        checkpointer.stop(timeout=5)


def _write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Gunicorn's answer to a request it refuses before the app sees it, as the router's error JSON.

    Gunicorn writes these (400 for a malformed request line or header, ``Content-Length`` with
    ``Transfer-Encoding``, 431 for headers over its limits, 501 for an unknown transfer coding)
    through ``gunicorn.util.write_error``, as HTML; the README promises JSON for every error.
    """
    code = reason.lower().replace(" ", "_")
    body = json.dumps({"code": code, "status": status_int, "message": mesg or reason, "errors": {}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin1") + body)


_INSTANCE_LOCK = "instance.lock"


def _own_metrics_dir(root: Path) -> Path:
    """A Prometheus multi-process directory for this instance alone, under ``root``.

    Several instances may share one ``ROUTER_HOME``: each writes its workers' files in its own
    directory and holds a ``flock`` on a file in it while it lives (the workers inherit it). A new
    instance removes only the directories whose lock nobody holds, i.e. those of instances that
    are gone; a live one keeps its figures.
    """
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        lock = old / _INSTANCE_LOCK
        if old.name.startswith(".") or not old.is_dir() or not lock.exists():
            continue  # another instance's directory before it holds its lock, or not ours
        with lock.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a running instance
        shutil.rmtree(old, ignore_errors=True)
    starting = Path(tempfile.mkdtemp(prefix=".starting-", dir=root))
    held = (starting / _INSTANCE_LOCK).open("a")
    fcntl.flock(held, fcntl.LOCK_EX)
    _held_locks.append(held)  # kept open (and locked) until this process exits
    own = root / f"{os.getpid()}-{starting.name.removeprefix('.starting-')}"
    starting.rename(own)  # visible to other instances only once locked
    return own


_held_locks: list[IO[str]] = []


def _metrics_mode_unset() -> bool:
    """prometheus_client is not imported yet, or was imported with multi-process mode on.

    It picks its mode once, when first imported, from ``PROMETHEUS_MULTIPROC_DIR``; the workers
    inherit the master's. A command module importing a metric at load time would otherwise turn
    multi-process metrics off for every worker, and ``/metrics`` would show one worker's figures.
    """
    values = sys.modules.get("prometheus_client.values")
    return values is None or values.ValueClass is not values.MutexValue


def _worker_class(settings: Settings) -> Any:
    """Workers that receive each request whole before a thread runs it (see ``router._worker``).

    ``ROUTER_SERVER_WORKER=gthread`` gives gunicorn's own threaded worker instead, whose threads
    wait for slow clients: only for a deployment behind a proxy that buffers requests.
    """
    if settings.server_worker == "gthread":
        return "gthread"
    from ._worker import worker_class

    return worker_class(settings.read_timeout_s, settings.max_body_bytes)


_DATE: tuple[int, str] = (0, "")


def _http_date(timestamp: float | None = None) -> str:
    """gunicorn's ``Date`` header, formatted once a second instead of for every answer."""
    global _DATE
    if timestamp is not None:
        return email.utils.formatdate(timestamp, usegmt=True)
    now = int(time.time())
    if _DATE[0] != now:
        _DATE = (now, email.utils.formatdate(now, usegmt=True))
    return _DATE[1]


def run(settings: Settings, *, host: str, port: int, workers: int) -> None:
    gunicorn.util.write_error = _write_json_error  # workers are forked from this process and keep it
    from .db import session

    session.BACKGROUND_CHECKPOINTS = True  # each worker runs a Checkpointer (see _post_worker_init)
    gunicorn.util.http_date = _http_date
    root = settings.home / "prometheus"
    if not _metrics_mode_unset():
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            raise RuntimeError("prometheus_client stays single-process although PROMETHEUS_MULTIPROC_DIR is set")
        root.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(root)  # set before the import this time
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    metrics_dir = _own_metrics_dir(root)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    import prometheus_client.multiprocess  # noqa: F401 - after the variable: workers inherit multi-process mode

    os.environ["ROUTER_HOME"] = str(settings.home)
    # One ticket per request: BLAS/OpenMP thread pools buy nothing here, and OpenBLAS's idle
    # threads spin-wait after every call, burning a core per worker. Workers import numpy after
    # this point, so the limit holds in each of them; an operator's own setting wins.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    print(
        f"Ticket Router on http://{host}:{port}  (API docs: http://{host}:{port}/docs, "
        f"OpenAPI: http://{host}:{port}/openapi.json)",
        flush=True,
    )
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": max(1, workers),
            "worker_class": _worker_class(settings),
            "threads": settings.server_threads,
            "timeout": 60,
            "graceful_timeout": 20,
            "keepalive": 5,
            "accesslog": None,
            "child_exit": _child_exit,
            "post_worker_init": _post_worker_init,
            "worker_exit": _worker_exit,
            "loglevel": "warning",
        }
    ).run()

"""A real ``router serve`` process on loopback, for integration tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import requests

ROUTER = str(Path(sys.executable).parent / "router")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RouterProcess:
    """``router serve`` with ``env`` (the ``ROUTER_*`` settings) in its own process group.

    ``start()`` waits for ``/readyz``; ``kill()`` signals the whole group (master and workers), so
    ``kill(signal.SIGKILL)`` is a crash. The same object can be started again on the same port.
    """

    def __init__(self, env: dict[str, str], *, workers: int = 2, log: Path | None = None) -> None:
        self.env = {**os.environ, **env}
        self.workers = workers
        self.log = log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def start(self, timeout: float = 90) -> RouterProcess:
        out: Any = subprocess.DEVNULL
        if self.log is not None:
            self._out = out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [ROUTER, "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.kill()
        tail = self.log.read_text()[-3000:] if self.log is not None else ""
        raise RuntimeError(f"router serve did not become ready within {timeout:g} s\n{tail}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.proc = None
        if self._out is not None:
            self._out.close()
            self._out = None

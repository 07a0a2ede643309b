"""Requests gunicorn refuses before the app sees them still answer the router's error JSON."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import make_env
from .test_serve import ROUTER, free_port

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``router serve`` on an empty home (no model is needed: these requests never reach the app)."""
    home = tmp_path_factory.mktemp("bare")
    port = free_port()
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [ROUTER, "serve", "--port", str(port), "--workers", "1"],
        env={**os.environ, **make_env(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not _answers(port):
        time.sleep(0.2)
    try:
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def _answers(port: int) -> bool:
    try:
        return raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(GET + b"X-Big: " + b"a" * 65536 + b"\r\n\r\n", 431, id="64KB-header"),
        pytest.param(GET + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431, id="101-headers"),
        pytest.param(
            b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            id="content-length-and-transfer-encoding",
        ),
        pytest.param(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="request-line-too-long"),
        pytest.param(b"G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="bad-method"),
        pytest.param(GET + b"Bad Header: 1\r\n\r\n", 400, id="bad-header-name"),
        pytest.param(b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, id="bad-length"),
        pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400, id="tls"),
    ],
)
def test_requests_refused_before_the_app_answer_error_json(bare_server: int, request_bytes: bytes, status: int) -> None:
    head, _, body = raw(bare_server, request_bytes).partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), lines[0]
    assert "Content-Type: application/json" in lines
    error = json.loads(body)
    assert set(error) == {"code", "status", "message", "errors"}
    assert isinstance(error["code"], str) and error["status"] == status and error["message"] and error["errors"] == {}


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [ROUTER, "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, **make_env(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not _answers(port):
        time.sleep(0.2)
    return proc


def _healthz_count(port: int) -> float:
    text = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    line = 'router_http_requests_total{endpoint="/healthz",method="GET",status="200"} '
    return sum(float(x.removeprefix(line)) for x in text.splitlines() if x.startswith(line))


def _hit(port: int, n: int) -> None:
    for _ in range(n):
        raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def test_two_instances_on_one_home_keep_their_own_metrics(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first_port, second_port = free_port(), free_port()
    first = _start(home, first_port)
    second: subprocess.Popen[bytes] | None = None
    try:
        _hit(first_port, 30)
        before = _healthz_count(first_port)
        assert before >= 30
        second = _start(home, second_port)
        _hit(second_port, 5)
        assert _healthz_count(first_port) == before  # the second instance neither wiped nor joined them
        assert 5 <= _healthz_count(second_port) < 30
    finally:
        for proc in (first, second):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    third_port = free_port()
    third = _start(home, third_port)  # both are gone: their directories are removed, its own is kept
    try:
        assert len([d for d in (home / "prometheus").iterdir() if d.is_dir()]) == 1
    finally:
        os.killpg(third.pid, signal.SIGTERM)
        third.wait(timeout=30)

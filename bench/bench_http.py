"""POST /v1/tickets under `router serve` (2 workers) against a bare Flask echo served the same way.

Load comes from client processes on loopback with keep-alive connections; every ticket has a new
id, so every request is a real decision stored in the database. Prints throughput of both, their
ratio, p50/p99 latency and the count of non-2xx answers. The echo is a floor, not a target: the
throughput target is set against a model server doing less work, in ``bench_peer.py``.
"""

from __future__ import annotations

import csv
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

from _common import BIN, ROOT, echo_command, ensure_home, pct

DURATION_S = float(os.environ.get("BENCH_SECONDS", "15"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on {port} did not become ready")


def client(port: int, token: str, texts: list[str], seconds: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    prefix = uuid.uuid4().hex[:8]
    latencies, errors, i = [], 0, 0
    end = time.time() + seconds
    while time.time() < end:
        body = json.dumps({"id": f"{prefix}-{i}", "subject": "", "body": texts[i % len(texts)]})
        start = time.perf_counter()
        try:
            conn.request(
                "POST",
                "/v1/tickets",
                body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            resp = conn.getresponse()
            resp.read()
            if not 200 <= resp.status < 300:
                errors += 1
        except OSError:
            errors += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - start)
        i += 1
    queue.put((latencies, errors))


def drive(port: int, token: str, texts: list[str]) -> tuple[float, list[float], int]:
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=client, args=(port, token, texts, DURATION_S, queue)) for _ in range(CLIENTS)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = [x for r in results for x in r[0]]
    return len(latencies) / DURATION_S, latencies, sum(r[1] for r in results)


def main() -> None:
    home = ensure_home()
    env = {**os.environ, "ROUTER_HOME": str(home), "ROUTER_LOG_LEVEL": "WARNING"}
    token = subprocess.run(
        [str(BIN / "router"), "tokens", "create", "--role", "ingest"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with (ROOT / "fixtures/banking77/test.csv").open() as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]

    rport, eport = free_port(), free_port()
    router = subprocess.Popen(
        [str(BIN / "router"), "serve", "--port", str(rport), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    echo = subprocess.Popen(
        echo_command(eport),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(rport, "/readyz")
        wait_ready(eport, "/v1/tickets")
        print(f"{CLIENTS} client processes, {DURATION_S:.0f} s each run, keep-alive, loopback")
        e_rps, e_lat, e_err = drive(eport, token, texts)
        r_rps, r_lat, r_err = drive(rport, token, texts)
        for name, rps, lat, err in (
            ("bare Flask echo", e_rps, e_lat, e_err),
            ("router /v1/tickets", r_rps, r_lat, r_err),
        ):
            print(
                f"{name:<20} {rps:8.1f} req/s  p50={pct(lat, 50) * 1000:.2f} ms  p99={pct(lat, 99) * 1000:.2f} ms  "
                f"non-2xx={err}"
            )
        print(f"ratio router/echo: {r_rps / e_rps:.2f}  (non-2xx target 0)")
    finally:
        for proc in (router, echo):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (router, echo):
            proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

"""Activate and roll back 20 times while `router serve` (2 workers) takes tickets.

Prints requests served, non-2xx count (target 0), p50/p99 latency outside and during swaps, the time
until every worker answers with the new version after each swap (target <= 2 s), and resident memory
per worker with two models loaded.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import time
import uuid

import requests
from _common import BIN, ensure_home, pct, rss_mb
from bench_http import free_port, wait_ready

SWAPS = int(os.environ.get("BENCH_SWAPS", "20"))


def second_version(env: dict[str, str]) -> tuple[str, str]:
    """The active version and a copy of it under a new name (same weights, a new identity)."""
    from router.config import load_settings
    from router.context import build_context
    from router.registry import versions
    from router.testing.models import register_copy

    ctx = build_context(load_settings(env))
    old = versions.active_version(ctx.db)
    assert old is not None
    return old, register_copy(ctx, old, "-swap")


def client(port: int, token: str, seconds: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    prefix, out, i = uuid.uuid4().hex[:8], [], 0
    end = time.time() + seconds
    with requests.Session() as http:
        while time.time() < end:
            start = time.time()
            try:
                resp = http.post(
                    f"http://127.0.0.1:{port}/v1/tickets?explain=full",  # the answer names the model
                    timeout=30,
                    json={"id": f"{prefix}-{i}", "body": "My card has not arrived yet"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                out.append((start, time.time() - start, resp.status_code, resp.json().get("model_version")))
            except requests.RequestException:
                out.append((start, time.time() - start, 0, None))
            i += 1
    queue.put(out)


def main() -> None:
    # A home of its own: thousands of tickets another benchmark just sent would be an outage burst to
    # the default plugins, and the candidate's contracts gate (run on activation) would see it.
    home = ensure_home("home-swap")
    env = {**os.environ, "ROUTER_HOME": str(home), "ROUTER_LOG_LEVEL": "WARNING"}
    old, new = second_version(env)
    token = subprocess.run(
        [str(BIN / "router"), "tokens", "create", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "router"), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(port, "/readyz")
        auth = {"Authorization": f"Bearer {token}"}
        # the first activation runs the gates; later ones reuse the passing report
        warm = requests.post(
            f"http://127.0.0.1:{port}/v1/models/{new}/activate",
            json={"reason": "bench warm-up"},
            headers=auth,
            timeout=600,
        )
        if warm.status_code != 200:
            raise SystemExit(f"activating {new} was refused: {warm.status_code} {warm.text}")
        requests.post(
            f"http://127.0.0.1:{port}/v1/models/rollback", json={"reason": "bench"}, headers=auth, timeout=60
        ).raise_for_status()
        seconds = SWAPS * 2 * 3.0 + 6
        queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        procs = [mp.Process(target=client, args=(port, token, seconds, queue)) for _ in range(2)]
        for p in procs:
            p.start()
        time.sleep(3)
        swaps: list[tuple[float, str]] = []
        called: list[float] = []
        for _ in range(SWAPS):
            for path, want in ((f"/v1/models/{new}/activate", new), ("/v1/models/rollback", old)):
                called.append(time.time())
                requests.post(
                    f"http://127.0.0.1:{port}{path}", json={"reason": "bench"}, headers=auth, timeout=120
                ).raise_for_status()
                swaps.append((time.time(), want))
                time.sleep(3.0)
        results = [r for _ in procs for r in queue.get()]
        for p in procs:
            p.join()
        workers = [
            int(x)
            for x in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        ]
        memory = [rss_mb(pid) for pid in workers]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    results.sort()
    errors = sum(1 for r in results if not 200 <= r[2] < 300)
    during = [r[1] for r in results if any(0 <= r[0] - t < 2.0 for t, _ in swaps)]
    outside = [r[1] for r in results if not any(0 <= r[0] - t < 2.0 for t, _ in swaps)]
    follow = []
    for i, (t, want) in enumerate(swaps):
        end = called[i + 1] if i + 1 < len(swaps) else float("inf")  # before the next swap was asked for
        stale = [r[0] + r[1] - t for r in results if t <= r[0] < end and r[3] != want]
        follow.append(max(stale, default=0.0))
    print(f"requests served: {len(results)}  non-2xx: {errors}  swaps: {len(swaps)} (activate + rollback x {SWAPS})")
    print(f"latency outside swaps: p50={pct(outside, 50) * 1000:.2f} ms  p99={pct(outside, 99) * 1000:.2f} ms")
    print(f"latency within 2 s of a swap: p50={pct(during, 50) * 1000:.2f} ms  p99={pct(during, 99) * 1000:.2f} ms")
    print(
        f"time until every worker answers with the new version: median={pct(follow, 50):.2f} s  "
        f"max={max(follow):.2f} s  (target <= 2 s)"
    )
    print(f"  per swap (s): {' '.join(f'{x:.2f}' for x in follow)}")
    print(f"resident memory per worker with two models loaded: {', '.join(f'{m:.0f} MB' for m in memory)}")


if __name__ == "__main__":
    main()

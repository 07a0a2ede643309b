"""The router's POST /v1/tickets against Seldon MLServer serving a bare TF-IDF + LinearSVC pipeline.

Starts ``router serve`` (one instance per variant in ``BENCH_VARIANTS``), two single-process
MLServer copies (its best layout on two cores), optionally MLServer as configured by default
(``parallel_workers=2``, with ``BENCH_MLSERVER_DEFAULT=1``) and a bare Flask echo. Drives each
with wrk on loopback, the same shuffled BANKING77 test texts for all, in interleaved rounds, and
prints req/s, p50/p99 and non-2xx per round, their medians and the ratios:

- router -c16 against the two MLServer copies -c16 (one wrk of 8 connections on each copy);
- router -c16 against router -c2 (no collapse under concurrency);
- router p99 at half its -c16 throughput (wrk's per-connection delay sets the rate);
- worker CPU per ticket of the router and of MLServer during the -c16 runs;
- the first variant again with ``?explain=full`` (the whole decision instead of the acknowledgement;
  ``BENCH_FULL=0`` leaves it out).

Then a profile of one worker's request path by stage (in-process, the Flask test client).

Every router request is a new ticket: validated, decided with its explanation, routed by the
rules and plugins, committed before its 2xx. The texts are the test set shuffled, so no intent
floods the outage-burst plugin.

MLServer comes from the ``bench`` extra (``pip install -e '.[bench]'``); without it the rest runs.
Settings: ``BENCH_ROUNDS`` (3), ``BENCH_SECONDS`` (10 per run), ``BENCH_VARIANTS`` (``buffered:1,buffered:2``;
a comma list of ``worker:threads`` with worker ``buffered`` or ``gthread``, optionally behind ``nginx+``,
Debian's nginx buffering in front with one worker process), ``BENCH_PROFILE`` (1).
"""

from __future__ import annotations

import contextlib
import cProfile
import csv
import importlib.util
import json
import os
import pstats
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _common import BIN, OUT, ROOT, echo_command, ensure_home
from bench_http import free_port, wait_ready

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
VARIANTS = [v.strip() for v in os.environ.get("BENCH_VARIANTS", "buffered:1,buffered:2").split(",") if v.strip()]
PROFILE = os.environ.get("BENCH_PROFILE", "1") == "1"
MLSERVER_DEFAULT = os.environ.get("BENCH_MLSERVER_DEFAULT", "0") == "1"
FULL = os.environ.get("BENCH_FULL", "1") == "1"
LUA = ROOT / "bench" / "peer.lua"
PEER = OUT / "peer"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    cpu_ms: float = float("nan")  # server CPU per request


@dataclass
class Server:
    name: str
    procs: list[subprocess.Popen[bytes]]
    ports: list[int]
    mode: str  # peer.lua mode
    results: dict[str, list[Run]] = field(default_factory=dict)

    def cpu_s(self) -> float:
        """User + system CPU of the server's processes and their children (the workers)."""
        return sum(_tree_cpu(p.pid) for p in self.procs)


def _tree_cpu(pid: int) -> float:
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(_tree_cpu(int(c)) for c in children)


def wrk(port: int, mode: str, token: str, texts: Path, conns: int, seconds: float, pause_ms: int = 0) -> Run:
    threads = min(2, conns)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}",
            "--",
            mode,
            uuid.uuid4().hex[:10],
            token,
            str(texts),
            str(pause_ms),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"RESULT requests=(\d+) duration_us=(\d+) non2xx=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+)", out)
    if m is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    n, dur, non2xx, errors, p50, p99 = (int(x) for x in m.groups())
    return Run(n / (dur / 1e6), p50 / 1000, p99 / 1000, non2xx + errors)


def drive(server: Server, token: str, texts: Path, conns: int, pause_ms: int = 0) -> Run:
    """All of a server's ports at once, ``conns`` connections in all; CPU per request over the run."""
    import concurrent.futures as cf

    per = max(1, conns // len(server.ports))
    before = server.cpu_s()
    with cf.ThreadPoolExecutor(len(server.ports)) as pool:
        runs = list(pool.map(lambda p: wrk(p, server.mode, token, texts, per, SECONDS, pause_ms), server.ports))
    cpu = server.cpu_s() - before
    rps = sum(r.rps for r in runs)
    return Run(
        rps,
        statistics.fmean(r.p50_ms for r in runs),
        max(r.p99_ms for r in runs),
        sum(r.non2xx for r in runs),
        cpu / (rps * SECONDS) * 1000 if rps else float("nan"),
    )


def texts_file() -> Path:
    PEER.mkdir(parents=True, exist_ok=True)
    path = PEER / "texts.txt"
    with (ROOT / "fixtures/banking77/test.csv").open() as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    random.Random(7).shuffle(texts)  # a realistic mix: 77 intents interleaved, none flooding
    path.write_text("".join(json.dumps(t) + "\n" for t in texts))
    return path


def plugin_config() -> Path:
    """The shipped plugin configuration with the outage-burst threshold scaled to benchmark traffic.

    At hundreds of tickets a second every intent passes 20 tickets in 10 minutes, and every answer
    would be a probable incident with 50 linked tickets. 20,000 in 10 minutes is ~2.5 times one
    intent's share at 1,000 tickets/s of this mix: a burst still escalates, steady traffic does not.
    """
    import yaml

    config = yaml.safe_load((ROOT / "plugins/config.yaml").read_text())
    config["outage_burst"]["tickets"] = 20_000
    path = PEER / "plugins.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def peer_model() -> Path:
    """The peer's model directory: TF-IDF + LinearSVC on the router's training set."""
    model_dir = PEER / "model"
    if (model_dir / "model.joblib").exists():
        return model_dir
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    with (ROOT / "fixtures/banking77/train.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC(random_state=0))
    pipeline.fit([r["text"] for r in rows], [r["category"] for r in rows])
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / "model.joblib")
    settings = {
        "name": "intent",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(settings))
    return model_dir


def _spawn(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def start_mlserver(
    model_dir: Path, copies: int, parallel_workers: int
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    procs, ports = [], []
    for _ in range(copies):
        port = free_port()
        env = {
            **os.environ,
            "MLSERVER_HOST": "127.0.0.1",
            "MLSERVER_HTTP_PORT": str(port),
            "MLSERVER_GRPC_PORT": str(free_port()),
            "MLSERVER_METRICS_PORT": str(free_port()),
            "MLSERVER_PARALLEL_WORKERS": str(parallel_workers),
            "MLSERVER_DEBUG": "false",
        }
        procs.append(_spawn([str(BIN / "mlserver"), "start", str(model_dir)], env, cwd=model_dir))
        ports.append(port)
    return procs, ports


NGINX_CONF = """
daemon off; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off; client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/f; uwsgi_temp_path {dir}/u; scgi_temp_path {dir}/s;
  upstream router {{ server 127.0.0.1:{upstream}; keepalive 32; }}
  server {{
    listen 127.0.0.1:{port}; client_max_body_size 1m; client_body_timeout 10s; client_header_timeout 10s;
    location / {{ proxy_pass http://router; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""


def start_router(env: dict[str, str], variant: str) -> Server:
    """``buffered:2``, ``gthread:4`` ... or ``nginx+gthread:4`` (nginx buffering in front, one worker)."""
    front, _, spec = variant.rpartition("+")
    worker, _, threads = spec.partition(":")
    port = free_port()
    proc = _spawn(
        [str(BIN / "router"), "serve", "--port", str(port), "--workers", "2"],
        {**env, "ROUTER_SERVER_WORKER": worker, "ROUTER_THREADS": threads or "2"},
    )
    if front != "nginx":
        return Server(f"router {variant}", [proc], [port], "router")
    conf_dir = PEER / f"nginx-{port}"
    conf_dir.mkdir(parents=True, exist_ok=True)
    front_port = free_port()
    (conf_dir / "nginx.conf").write_text(NGINX_CONF.format(dir=conf_dir, upstream=port, port=front_port))
    nginx = _spawn(["nginx", "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf")], dict(os.environ))
    return Server(f"router {variant}", [proc, nginx], [front_port], "router")


def start_echo() -> Server:
    port = free_port()
    proc = _spawn(
        echo_command(port),
        dict(os.environ),
    )
    return Server("bare Flask echo", [proc], [port], "echo")


def _line(name: str, run: Run) -> str:
    cpu = f"  cpu/req={run.cpu_ms:.2f} ms" if run.cpu_ms == run.cpu_ms else ""
    return (
        f"  {name:<34} {run.rps:7.1f} req/s  p50={run.p50_ms:6.2f} ms  p99={run.p99_ms:6.2f} ms"
        f"  non-2xx={run.non2xx}{cpu}"
    )


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.non2xx for r in runs),
        statistics.median(r.cpu_ms for r in runs),
    )


def profile_stages(home: Path, token: str, texts: Path, n: int = 400) -> None:
    """Where one request's CPU goes, in-process (no HTTP server): cProfile, cumulative per stage."""
    os.environ["ROUTER_HOME"] = str(home)
    os.environ["ROUTER_PLUGIN_CONFIG"] = str(PEER / "plugins.yaml")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ["ROUTER_DELIVERY_THREAD"] = "off"
    os.environ["ROUTER_SCHEDULER"] = "off"
    os.environ["ROUTER_LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))
    from router.app import create_app

    app = create_app()
    client = app.test_client()
    app.extensions["router"].runtime.refresh()
    lines = texts.read_text().splitlines()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    prefix = uuid.uuid4().hex[:8]

    def one(i: int) -> None:
        body = f'{{"id":"prof-{prefix}-{i}","subject":"","body":{lines[i % len(lines)]}}}'
        assert client.post("/v1/tickets", data=body, headers=headers).status_code == 201

    for i in range(50):
        one(i)  # warm caches and the model
    started = time.thread_time()
    for i in range(50, 50 + n):
        one(i)
    plain_ms = (time.thread_time() - started) / n * 1000
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    for i in range(50 + n, 50 + 2 * n):
        one(i)
    prof.disable()
    stats = pstats.Stats(prof)
    cum: dict[tuple[str, str], float] = {}
    for (path, _line_no, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        key = (path.rsplit("/router/", 1)[-1] if "/router/" in path else Path(path).name, func)
        cum[key] = cum.get(key, 0.0) + ct
    total = stats.total_tt  # type: ignore[attr-defined]

    def ms(*keys: tuple[str, str]) -> float:  # the stage's share of the profile, scaled to unprofiled CPU
        return sum(cum.get(k, 0.0) for k in keys) / total * plain_ms

    stages: list[tuple[str, Callable[[], float]]] = [
        ("validation (TicketIn.load)", lambda: ms(("api/webhooks.py", "_load"))),
        ("normalise text", lambda: ms(("services/intake.py", "_normalised"))),
        ("model: predict + explanation", lambda: ms(("services/decide.py", "_predict"))),
        ("rules + plugins", lambda: ms(("services/decide.py", "decision_for"))),
        ("store (one transaction, commit)", lambda: ms(("services/intake.py", "_store"))),
        ("after commit (metrics, hooks, shadow)", lambda: ms(("services/decide.py", "observe"))),
    ]
    print(
        f"\nwhere a ticket's CPU goes, in-process without the HTTP server ({n} new tickets, {plain_ms:.2f} ms each "
        "unprofiled; each stage's share of a cProfile run, in ms of that):"
    )
    accounted = 0.0
    for name, value in stages:
        v = value()
        accounted += v
        print(f"  {name:<40} {v:6.2f}")
    print(f"  {'Flask, auth, schema dump, JSON, rest':<40} {plain_ms - accounted:6.2f}")
    print(f"  {'total':<40} {plain_ms:6.2f}")


def main() -> None:
    home = ensure_home()
    texts = texts_file()
    env = {**os.environ, "ROUTER_HOME": str(home), "ROUTER_LOG_LEVEL": "WARNING"}
    env["ROUTER_PLUGIN_CONFIG"] = str(plugin_config())
    token = subprocess.run(
        [str(BIN / "router"), "tokens", "create", "--role", "ingest"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    servers = [start_router(env, v) for v in VARIANTS]
    if FULL:  # the first variant again, asked for the whole explained decision instead of the acknowledgement
        first = servers[0]
        servers.insert(1, Server(f"{first.name} ?explain=full", first.procs, first.ports, "router-full"))
    echo = start_echo()
    peers: list[Server] = []
    if importlib.util.find_spec("mlserver") and importlib.util.find_spec("mlserver_sklearn"):
        model_dir = peer_model()
        procs, ports = start_mlserver(model_dir, 2, 0)
        peers.append(Server("MLServer x2 (single-process)", procs, ports, "mlserver"))
        if MLSERVER_DEFAULT:
            procs, ports = start_mlserver(model_dir, 1, 2)
            peers.append(Server("MLServer default (parallel_workers=2)", procs, ports, "mlserver"))
    else:
        print("MLServer is not installed: pip install -e '.[bench]' (mlserver, mlserver-sklearn); running the rest")
    everything = [*servers, echo, *peers]
    try:
        for s in servers:
            for port in s.ports:
                wait_ready(port, "/readyz", timeout=120)
        for port in echo.ports:
            wait_ready(port, "/v1/tickets")
        for s in peers:
            for port in s.ports:
                wait_ready(port, "/v2/models/intent/ready", timeout=120)
        for s in everything:  # warm-up: models loaded, connections and caches warm
            for port in s.ports:
                wrk(port, s.mode, token, texts, 2, 2)
        print(f"wrk on loopback, {SECONDS:g} s a run, {ROUNDS} interleaved rounds; the same {texts.name} for all")
        for r in range(ROUNDS):
            order = everything[r % len(everything) :] + everything[: r % len(everything)]
            print(f"round {r + 1}")
            for s in order:
                runs = {"c16": drive(s, token, texts, 16)}
                if s in servers:
                    runs["c2"] = drive(s, token, texts, 2)
                    # Half of this round's -c16 throughput: 8 connections, each pausing between requests.
                    interval_ms = 8 / (runs["c16"].rps / 2) * 1000
                    pause = max(0, round(interval_ms - runs["c2"].p50_ms))
                    runs["half"] = drive(s, token, texts, 8, pause_ms=pause)
                for label, run in runs.items():
                    s.results.setdefault(label, []).append(run)
                    print(_line(f"{s.name} {label}", run))
        print("medians")
        for s in everything:
            for label, runs in s.results.items():
                print(_line(f"{s.name} {label}", _median(runs)))
        print("ratios (median of per-round ratios)")
        pair = peers[0] if peers else None
        for s in servers:
            r16 = s.results["c16"]
            if pair is not None:
                ratios = [a.rps / b.rps for a, b in zip(r16, pair.results["c16"], strict=True)]
                print(
                    f"  {s.name} / {pair.name} at -c16: {statistics.median(ratios):.2f}  (target >= 1.0)  per round: "
                    + ", ".join(f"{x:.2f}" for x in ratios)
                )
            ratios = [a.rps / b.rps for a, b in zip(r16, s.results["c2"], strict=True)]
            print(
                f"  {s.name} -c16 / -c2: {statistics.median(ratios):.2f}  (target >= 1.0)  per round: "
                + ", ".join(f"{x:.2f}" for x in ratios)
            )
            half = s.results["half"]
            print(
                f"  {s.name} p99 at half throughput: {statistics.median(h.p99_ms for h in half):.2f} ms "
                f"at {statistics.median(h.rps for h in half):.0f} req/s  (target <= 15 ms)"
            )
            ratios = [a.rps / b.rps for a, b in zip(r16, echo.results["c16"], strict=True)]
            print(f"  {s.name} / bare Flask echo at -c16: {statistics.median(ratios):.2f}")
    finally:
        procs = list({p.pid: p for s in everything for p in s.procs}.values())
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    if PROFILE:
        profile_stages(home, token, texts)


if __name__ == "__main__":
    sys.exit(main())

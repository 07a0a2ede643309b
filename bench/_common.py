"""Shared set-up for the benchmarks: a ROUTER_HOME with an active model, and small statistics."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"


def ensure_home(name: str = "home") -> Path:
    """``bench/out/<name>`` with the default model trained and active (trained once, then reused)."""
    home = OUT / name
    env = {**os.environ, "ROUTER_HOME": str(home)}
    subprocess.run(
        [str(BIN / "router"), "train", "--if-empty", "--activate"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return home


def echo_command(port: int) -> list[str]:
    """The bare Flask echo under gunicorn as ``router serve`` used to run (2 workers, gthread x 4)."""
    return [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--chdir",
        str(ROOT / "bench"),
        "_echo:app",
    ]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def summary_ms(values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    return f"p50={pct(ms, 50):.3f} ms  p99={pct(ms, 99):.3f} ms  mean={statistics.fmean(ms):.3f} ms  n={len(ms)}"


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")

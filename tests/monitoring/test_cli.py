"""`router drift check` and `router drift report` from the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from router.cli import main

from ..conftest import make_env, prepare_home


def test_drift_check_on_a_csv_window_and_the_report(tmp_path: Path, trained) -> None:
    home = tmp_path / "home"
    ctx = prepare_home(home, trained)
    version = ctx.runtime.current().version
    held_out, labels = ctx.store.holdout(version)
    ctx.db.dispose()
    window = tmp_path / "window.csv"
    with window.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "category"])
        w.writerows(zip(held_out[:300], labels[:300], strict=True))
    env = make_env(home, ROUTER_DRIFT_BACKEND="scipy")
    runner = CliRunner()
    res = runner.invoke(main, ["drift", "check", "--data", str(window)], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["is_drift"] is False and out["model_version"] == version and out["backend"] == "scipy"
    assert out["detectors"]["input_ks"]["meta"]["name"] == "input_ks" and out["sizes"]["window"] == 300
    hist = runner.invoke(main, ["drift", "history"], env=env)
    assert hist.exit_code == 0 and version in hist.output
    report = tmp_path / "report.html"
    res = runner.invoke(main, ["drift", "report", "--out", str(report)], env=env)
    assert res.exit_code == 0, res.output
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 3 and "Drift history" in page
    missing = runner.invoke(main, ["drift", "check", "--data", str(tmp_path / "nope.csv")], env=env)
    assert missing.exit_code == 2 and "no such file" in missing.output
    jobs = runner.invoke(main, ["jobs", "list"], env=env)
    assert jobs.exit_code == 0 and "monitoring.drift" in jobs.output
    ran = runner.invoke(main, ["jobs", "run", "monitoring.review_backlog"], env=env)
    assert ran.exit_code == 0 and json.loads(ran.output.strip().splitlines()[-1])["ran"] is True


def test_drift_check_prints_no_third_party_notices(tmp_path: Path, trained) -> None:
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    ctx = prepare_home(home, trained)
    held_out, _ = ctx.store.holdout(ctx.runtime.current().version)
    ctx.db.dispose()
    window = tmp_path / "window.csv"
    with window.open("w", newline="") as fh:
        csv.writer(fh).writerows([["text"], *[[t] for t in held_out[:200]]])
    env = {**os.environ, **make_env(home, ROUTER_DRIFT_BACKEND="alibi")}
    env.pop("TRANSFORMERS_NO_ADVISORY_WARNINGS", None)
    router = str(Path(sys.executable).parent / "router")
    done = subprocess.run(
        [router, "drift", "check", "--data", str(window)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["backend"] == "alibi"
    assert "PyTorch" not in done.stderr and "retrain_from_scratch" not in done.stderr
    assert done.stderr.strip() == ""

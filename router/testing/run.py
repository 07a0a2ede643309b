"""Run the routing contracts headless (``router rules test``): pytest with a JSON summary."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest


class _Summary:
    def __init__(self) -> None:
        self.counts = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
        self.failures: list[dict[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "error" if report.when == "setup" and report.failed else report.outcome
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            if report.failed:
                self.failures.append({"test": report.nodeid, "message": str(report.longrepr)[-2000:]})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.counts["error"] += 1
            self.failures.append({"test": report.nodeid, "message": str(report.longrepr)[-2000:]})


def run_contracts(*, rules_file: Path, contracts: Path, model: str | None, extra_args: list[str]) -> dict[str, Any]:
    """The rule file's examples plus every contract test, against ``model`` (default: the active one)."""
    with tempfile.TemporaryDirectory() as tmp:
        # Rule examples are collected from files in a directory named `rules`.
        rules_dir = Path(tmp) / "rules"
        rules_dir.mkdir()
        shutil.copy(rules_file, rules_dir / Path(rules_file).name)
        args = [
            str(rules_dir),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--router-rules={rules_file}",
            f"--rootdir={tmp}",
            "-o",
            "addopts=",
            "-o",
            "filterwarnings=",
            "-o",
            "truncation_limit_lines=0",
            "-o",
            "truncation_limit_chars=0",
        ]
        if contracts.is_dir():
            args.insert(1, str(contracts))
        if model:
            args.append(f"--router-model={model}")
        summary = _Summary()
        code = pytest.main([*args, *extra_args], plugins=[summary])
    return {
        "ok": int(code) == 0,
        "exit_code": int(code),
        "rules_file": str(rules_file),
        "model": model or "active",
        **summary.counts,
        "failures": summary.failures,
    }

"""Promotion gates: integrity, smoke, quality and contracts, with a report for each.

Everything that unpickles or runs the candidate happens in a separate, resource-limited process
(``probe.py`` and ``router rules test``), so a broken or malicious artefact cannot take a worker down.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, f1_score, recall_score

from ..errors import ModelIntegrityError, NotFound
from .store import library_versions

PROBE_TIMEOUT_S = 300
PROBE_MEMORY_BYTES = 6 * 1024**3
_COMPARED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib")


def _limit_resources() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (PROBE_MEMORY_BYTES, PROBE_MEMORY_BYTES))


def probe_command(ctx: Any, version: str, holdout: str | None = None) -> list[str]:
    """The command that probes ``version`` in its own process (``router.registry.probe``)."""
    args = [
        sys.executable,
        "-m",
        "router.registry.probe",
        str(ctx.store.root),
        version,
        "--smoke",
        str(ctx.settings.smoke_file),
    ]
    return [*args, "--holdout", holdout] if holdout is not None else args


def _run(args: list[str], timeout: float = PROBE_TIMEOUT_S, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_resources, env=env
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"timed out after {timeout:.0f} s"
    return proc.returncode, proc.stdout, proc.stderr


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _gate(name: str, passed: bool, summary: str, **details: Any) -> dict[str, Any]:
    return {"name": name, "passed": passed, "summary": summary, **details}


def integrity(ctx: Any, version: str, probe: dict[str, Any] | None, probe_error: str | None) -> dict[str, Any]:
    try:
        card = ctx.store.verify(version)
    except (ModelIntegrityError, NotFound) as exc:
        return _gate("integrity", False, exc.message)
    if probe is None or not probe.get("loaded"):
        return _gate("integrity", False, f"the artefact did not load in a separate process: {probe_error}")
    built, here = card.get("libraries", {}), library_versions()
    mismatched = {k: {"card": built.get(k), "here": here[k]} for k in _COMPARED_LIBRARIES if built.get(k) != here[k]}
    if mismatched:
        return _gate("integrity", False, "library versions differ from the card", libraries=mismatched)
    return _gate("integrity", True, "checksum matches the card, loads in a separate process, libraries match")


def smoke(settings: Any, probe: dict[str, Any] | None) -> dict[str, Any]:
    if probe is None or "smoke" not in probe:
        return _gate("smoke", False, "not run: the artefact did not load")
    s = probe["smoke"]
    budget = settings.gate_latency_ms
    if s["error_count"]:
        return _gate("smoke", False, f"{s['error_count']} of {s['n']} smoke tickets failed", **s)
    if s["p99_ms"] is not None and s["p99_ms"] > budget:
        return _gate("smoke", False, f"p99 {s['p99_ms']:.1f} ms is over the {budget:.0f} ms budget", **s)
    return _gate("smoke", True, f"{s['n']} smoke tickets decided, p99 {s['p99_ms']:.2f} ms", **s)


def quality(ctx: Any, probe: dict[str, Any] | None, active: str | None) -> dict[str, Any]:
    if active is None:
        return _gate("quality", True, "no active version to compare with")
    if probe is None or "holdout_predictions" not in probe:
        return _gate("quality", False, "not run: the artefact did not load")
    texts, labels = ctx.store.holdout(active)
    baseline_model = ctx.store.load(active)
    baseline = [p.intent for p in baseline_model.predict_batch(texts, explain=False)]
    candidate = probe["holdout_predictions"]
    intents = sorted(set(labels))
    figures = {}
    for name, predicted in (("active", baseline), ("candidate", candidate)):
        figures[name] = {
            "accuracy": float(accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, labels=intents, average="macro", zero_division=0)),
            "recall": dict(
                zip(
                    intents,
                    recall_score(labels, predicted, labels=intents, average=None, zero_division=0).tolist(),
                    strict=True,
                )
            ),
        }
    margin = ctx.settings.gate_margin_points / 100
    drop = ctx.settings.gate_recall_drop_points / 100
    problems = []
    for metric in ("accuracy", "macro_f1"):
        a, c = figures["active"][metric], figures["candidate"][metric]
        if c < a - margin:
            problems.append(f"{metric} {c:.4f} is {100 * (a - c):.2f} points below the active {a:.4f}")
    support = {i: labels.count(i) for i in intents}
    # A drop must exceed the margin and be more than one ticket: on an intent with ten held-out
    # tickets a single miss is ten points, which is noise, not a regression.
    regressions = {
        i: {
            "active": round(figures["active"]["recall"][i], 4),
            "candidate": round(figures["candidate"]["recall"][i], 4),
            "support": support[i],
        }
        for i in intents
        if figures["candidate"]["recall"][i] < figures["active"]["recall"][i] - drop
        and (figures["active"]["recall"][i] - figures["candidate"]["recall"][i]) * support[i] > 1.5
    }
    if regressions:
        problems.append(
            f"recall drops by more than {ctx.settings.gate_recall_drop_points:g} points on "
            f"{len(regressions)} intent(s): {', '.join(sorted(regressions))}"
        )
    summary = "; ".join(problems) or (
        f"accuracy {figures['candidate']['accuracy']:.4f} vs {figures['active']['accuracy']:.4f}, "
        f"macro-F1 {figures['candidate']['macro_f1']:.4f} vs {figures['active']['macro_f1']:.4f}"
    )
    return _gate(
        "quality",
        not problems,
        summary,
        compared_with=active,
        rows=len(labels),
        accuracy={k: round(v["accuracy"], 4) for k, v in figures.items()},
        macro_f1={k: round(v["macro_f1"], 4) for k, v in figures.items()},
        regressed_intents=regressions,
    )


def contracts(ctx: Any, version: str, ruleset_text: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "ruleset.yaml"
        rules.write_text(ruleset_text)
        router_cmd = str(Path(sys.executable).parent / "router")
        env = {**os.environ, "ROUTER_HOME": str(ctx.settings.home), "ROUTER_DATABASE_URL": ctx.settings.database_url}
        _code, out, err = _run(
            [
                router_cmd,
                "rules",
                "test",
                "--router-model",
                version,
                "--router-rules",
                str(rules),
                "--contracts",
                str(ctx.settings.contracts_dir),
            ],
            env=env,
        )
    summary = _last_json(out)
    if summary is None:
        return _gate("contracts", False, f"the contract suite did not run: {err.strip()[-500:]}")
    failures = [f["test"] for f in summary.get("failures", [])]
    if not summary.get("ok"):
        return _gate(
            "contracts",
            False,
            f"{len(failures)} contract(s) failed: {', '.join(failures[:10])}",
            passed_count=summary.get("passed"),
            failures=summary.get("failures", [])[:10],
        )
    return _gate(
        "contracts",
        True,
        f"{summary.get('passed')} contracts and rule examples hold",
        passed_count=summary.get("passed"),
    )


def run_gates(ctx: Any, version: str, active: str | None, ruleset_text: str) -> dict[str, Any]:
    """Every gate's result; ``passed`` only when all passed."""
    holdout = None
    if active is not None:
        holdout = str(ctx.store.path_for(active) / "holdout.csv")
    args = probe_command(ctx, version, holdout)
    code, out, err = _run(args)
    probe = _last_json(out)
    probe_error = (probe or {}).get("error") or err.strip()[-500:] or f"exit code {code}"
    gates = [integrity(ctx, version, probe, probe_error)]
    if gates[0]["passed"]:
        gates += [smoke(ctx.settings, probe), quality(ctx, probe, active), contracts(ctx, version, ruleset_text)]
    return {"version": version, "compared_with": active, "passed": all(g["passed"] for g in gates), "gates": gates}

"""The `router` command: train, evaluate, predict, models, tokens."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from router.cli import main
from router.config import REPO_ROOT

from .conftest import make_env, prepare_home

TRAIN = REPO_ROOT / "fixtures" / "banking77" / "train.csv"
TEST = REPO_ROOT / "fixtures" / "banking77" / "test.csv"


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def subset(n_intents: int, per_intent: int) -> list[dict[str, str]]:
    with TRAIN.open() as fh:
        rows = list(csv.DictReader(fh))
    intents = sorted({r["category"] for r in rows})[:n_intents]
    out: list[dict[str, str]] = []
    for intent in intents:
        out += [r for r in rows if r["category"] == intent][:per_intent]
    return out


def test_train_registers_a_version_and_prints_json_last(tmp_path: Path) -> None:
    env = make_env(tmp_path / "home")
    data = write_csv(tmp_path / "small.csv", subset(6, 60), ["text", "category"])
    code, out, err = run(["train", "--data", str(data), "--activate"], env)
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["version"].startswith("v") and result["active"] is True
    assert 0.5 < result["metrics"]["accuracy"] <= 1 and "ece" in result["metrics"]
    assert "…" in err  # progress on the long steps
    code, out, _ = run(["models", "list"], env)
    assert code == 0 and f"* {result['version']}" in out and "active" in out
    card = json.loads((tmp_path / "home" / "models" / result["version"] / "card.json").read_text())
    assert card["training_data"]["rows"] == 360 and len(card["labels"]) == 6


def test_train_reports_every_data_problem_and_registers_nothing(tmp_path: Path) -> None:
    env = make_env(tmp_path / "home")
    rows = subset(3, 20)
    rows += [{"text": "   ", "category": rows[0]["category"]}]
    rows += [{"text": "a lonely example", "category": "rare_intent"}]
    rows += [{"text": rows[0]["text"], "category": rows[-3]["category"]}]  # same text, other label
    data = write_csv(tmp_path / "bad.csv", rows, ["text", "category"])
    code, _out, err = run(["train", "--data", str(data)], env)
    assert code == 2
    assert "empty" in err and "rare_intent" in err and "conflicting" in err.lower()
    assert not (tmp_path / "home" / "models").exists() or not any((tmp_path / "home" / "models").iterdir())


def test_train_names_missing_columns(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "cols.csv", [{"message": "hi", "label": "x"}], ["message", "label"])
    code, _, err = run(["train", "--data", str(data)], make_env(tmp_path / "home"))
    assert code == 2 and "text" in err and "message" in err


@pytest.fixture
def ready_env(tmp_path: Path, trained) -> dict[str, str]:  # type: ignore[no-untyped-def]
    home = tmp_path / "ready"
    prepare_home(home, trained).db.dispose()
    return make_env(home)


def test_evaluate_prints_the_figures_on_the_test_set(ready_env: dict[str, str]) -> None:
    code, out, err = run(["evaluate", "--data", str(TEST)], ready_env)
    assert code == 0, err
    report = json.loads(out)
    assert report["rows"] == 3080
    assert report["accuracy"] >= 0.915 and report["ece"] <= 0.03
    assert report["coverage_at_precision"]["0.97"] >= 0.85
    assert set(report["coverage_at_precision"]) == {"0.95", "0.97", "0.99"}
    assert len(report["per_intent"]) == 77
    # the trade-off: target precision 0.90 to 0.995 against the auto-routed share, chosen out of fold
    curve = report["precision_curve"]
    assert curve[0]["target"] == 0.9 and curve[-1]["target"] == 0.995
    shares = [row["expected_share"] for row in curve]
    assert shares == sorted(shares, reverse=True) and shares[-1] < shares[0]
    at = next(row for row in curve if row["target"] == report["operating_point"]["target_precision"])
    assert at["share"] >= 0.85 and at["precision"] >= 0.96


def test_predict_writes_one_row_per_input(ready_env: dict[str, str], tmp_path: Path) -> None:
    data = write_csv(tmp_path / "in.csv", [{"text": "my card was stolen"}, {"text": "<b>top up</b> failed"}], ["text"])
    out_csv = tmp_path / "out.csv"
    code, _out, err = run(["predict", "--data", str(data), "--out", str(out_csv)], ready_env)
    assert code == 0, err
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    assert {"text", "intent", "confidence", "needs_review", "review_reasons", "queue"} <= set(rows[0])
    assert rows[0]["queue"] == "fraud" and rows[1]["text"] == "top up failed"


def test_unknown_model_version_is_a_clear_error(ready_env: dict[str, str]) -> None:
    code, _, err = run(["evaluate", "--data", str(TEST), "--model", "v-missing"], ready_env)
    assert code == 2 and "v-missing" in err


def test_tokens_are_printed_once_and_stored_hashed(ready_env: dict[str, str]) -> None:
    code, out, _ = run(["tokens", "create", "--role", "reviewer"], ready_env)
    token = out.strip()
    assert code == 0 and token.startswith("tr_")
    db = Path(ready_env["ROUTER_HOME"]) / "router.db"
    assert token.encode() not in db.read_bytes()


def test_plugins_list_shows_builtins(ready_env: dict[str, str]) -> None:
    code, out, _ = run(["plugins", "list"], ready_env)
    assert code == 0 and "builtin-adapters" in out and "router_webhook_adapters" in out


def test_tokens_are_listed_without_the_secret_and_revoked_by_name(ready_env: dict[str, str]) -> None:
    code, secret, _ = run(["tokens", "create", "--role", "reviewer", "--name", "ann"], ready_env)
    assert code == 0
    code, out, _ = run(["tokens", "list"], ready_env)
    assert code == 0 and "ann" in out and "reviewer" in out and "never" in out
    assert secret.strip() not in out
    code, out, _ = run(["tokens", "revoke", "ann"], ready_env)
    assert code == 0 and json.loads(out)[0]["name"] == "ann"
    code, out, _ = run(["tokens", "list", "--json"], ready_env)
    assert "ann" not in [t["name"] for t in json.loads(out)]
    code, _, err = run(["tokens", "revoke", "ann"], ready_env)
    assert code == 2 and "no live token" in err


def test_models_list_prints_metrics_as_people_read_them(ready_env: dict[str, str]) -> None:
    import re

    code, out, _ = run(["models", "list"], ready_env)
    assert code == 0
    assert re.search(r"accuracy=0\.\d{4}  macro_f1=0\.\d{4}  ece=0\.\d{4}  rows=", out), out

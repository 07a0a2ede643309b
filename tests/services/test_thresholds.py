"""An admin changes a version's target precision without retraining: API, CLI, audit, every worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from router.cli import main
from router.context import build_context
from router.services.intake import submit
from tests.conftest import make_env


def _active(ctx) -> str:  # type: ignore[no-untyped-def]
    return str(ctx.runtime.current().version)


def test_a_new_target_is_audited_and_every_worker_routes_with_it(client, ctx, token) -> None:  # type: ignore[no-untyped-def]
    version = _active(ctx)
    other_worker = build_context(ctx.settings)  # its own runtime, polling the same database
    try:
        trained = other_worker.runtime.current().model
        assert trained.target_precision == 0.97
        status = client.get(f"/v1/models/{version}/thresholds", headers=token("viewer"))
        assert status.status_code == 200
        assert status.json["operating_point"]["revision"] is None
        assert status.json["operating_point"]["target_precision"] == 0.97
        assert [p["target"] for p in status.json["precision_curve"]][:2] == [0.9, 0.92]

        resp = client.post(
            f"/v1/models/{version}/thresholds",
            json={"target_precision": 0.95, "reason": "fewer tickets for the team"},
            headers=token("admin"),
        )
        assert resp.status_code == 201, resp.json
        revision = resp.json
        assert revision["target_precision"] == 0.95 and revision["revision"] >= 1
        assert revision["expected_share"] > status.json["operating_point"]["expected_share"]
        assert revision["expected_precision"] >= 0.95

        start = time.monotonic()
        while other_worker.runtime.current().model.target_precision != 0.95:
            assert time.monotonic() - start < 2.0, "the other worker still routes with the old thresholds"
            time.sleep(0.05)
        served = other_worker.runtime.current().model
        assert served.thresholds == revision["thresholds"]
        assert served.classifier is trained.classifier  # the classifier is shared, not reloaded
        assert trained.target_precision == 0.97  # requests in flight keep the model they started with
    finally:
        other_worker.db.dispose()

    stored = submit(ctx, "generic", {"id": "T-1", "body": "hello, something about my account"}).decision
    if "low_confidence" in stored["review_reasons"]:
        needed = revision["thresholds"].get(stored["intent"], revision["default_threshold"])
        assert f"below the {needed:.2f}" in stored["explanation"]["review"]["low_confidence"] or needed >= 1.0

    audit = client.get("/v1/models/audit", headers=token("viewer")).json
    entry = next(e for e in audit if e["action"] == "model.thresholds")
    assert entry["target"] == version and entry["reason"] == "fewer tickets for the team"
    assert entry["before"]["target_precision"] == 0.97 and entry["after"]["target_precision"] == 0.95
    after = client.get(f"/v1/models/{version}/thresholds", headers=token("viewer")).json
    assert after["operating_point"]["revision"] == revision["revision"]
    assert after["trained_with"]["target_precision"] == 0.97


def test_a_target_is_refused_unless_an_admin_asks_for_a_sensible_one(client, ctx, token) -> None:  # type: ignore[no-untyped-def]
    version = _active(ctx)
    url = f"/v1/models/{version}/thresholds"
    assert client.post(url, json={"target_precision": 0.95}, headers=token("viewer")).status_code == 403
    too_high = client.post(url, json={"target_precision": 1.0}, headers=token("admin"))
    assert too_high.status_code == 422 and "target_precision" in json.dumps(too_high.json["errors"])
    missing = client.post("/v1/models/v-missing/thresholds", json={"target_precision": 0.95}, headers=token("admin"))
    assert missing.status_code == 404
    assert client.get(url, headers=token("viewer")).json["revisions"] == []


def test_the_cli_sets_and_shows_the_target(ctx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    version = _active(ctx)
    env = make_env(ctx.settings.home)
    runner = CliRunner()
    result = runner.invoke(main, ["models", "threshold", version, "--precision", "0.99", "--reason", "audit"], env=env)
    assert result.exit_code == 0, result.output
    revision = json.loads(result.stdout)
    assert revision["target_precision"] == 0.99 and revision["actor"] == "cli"
    shown = runner.invoke(main, ["models", "threshold", version], env=env)
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["operating_point"]["revision"] == revision["revision"]
    assert status["revisions"][0]["expected_share"] < status["trained_with"]["expected_share"]
    refused = runner.invoke(main, ["models", "threshold", version, "--precision", "2"], env=env)
    assert refused.exit_code != 0 and "between 0.5 and 0.999" in refused.output

    # evaluate and predict use the thresholds the workers route with
    data = tmp_path / "few.csv"
    data.write_text("text,category\nmy card was stolen,lost_or_stolen_card\nwhere is my card,card_arrival\n")
    evaluated = runner.invoke(main, ["evaluate", "--data", str(data)], env=env)
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["operating_point"]["target_precision"] == 0.99

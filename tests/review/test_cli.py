"""`router review export` and `router review stats`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from router import review
from router.cli import main
from router.review.export import COLUMNS
from tests.conftest import make_env, prepare_home

from .helpers import add_decision


def test_export_writes_the_same_csv_as_the_api(tmp_path: Path, trained: tuple[Path, str]) -> None:
    home = tmp_path / "home"
    ctx = prepare_home(home, trained)
    item = add_decision(ctx, "E-1", text='She said "hi", then: lost, card', intent="card_arrival")
    assert item is not None
    review.claim(ctx, item, "ann")
    review.resolve(ctx, item, "ann", "lost_or_stolen_card", "fraud", "commas, quotes\nand lines")
    add_decision(ctx, "E-2")  # still open: no label, no row
    expected = review.export_csv(ctx)
    ctx.db.dispose()
    out = tmp_path / "labels.csv"

    result = CliRunner().invoke(main, ["review", "export", "--out", str(out)], env=make_env(home))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"rows": 1, "out": str(out)}
    assert out.read_text() == expected
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == COLUMNS
    assert rows[0]["text"] == 'She said "hi", then: lost, card' and rows[0]["note"] == "commas, quotes\nand lines"
    assert (rows[0]["intent"], rows[0]["queue"], rows[0]["model_intent"]) == (
        "lost_or_stolen_card",
        "fraud",
        "card_arrival",
    )

    result = CliRunner().invoke(main, ["review", "stats"], env=make_env(home))
    assert result.exit_code == 0 and json.loads(result.stdout)["backlog_by_reason"] == {"low_confidence": 1}

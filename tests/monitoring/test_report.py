"""The drift report's pictures: a time axis that fits the checks, and a colour per intent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib.dates as mdates
from matplotlib.colors import to_hex

from router.monitoring.report import OTHER_COLOUR, drift_history_figure, intent_mix_figure


def check(at: datetime, p: float = 0.5) -> dict:  # type: ignore[type-arg]
    return {"at": at, "is_drift": False, "detectors": {"input_ks": {"data": {"p_val": p, "threshold": 0.01}}}}


def span_days(fig) -> float:  # type: ignore[no-untyped-def]
    lo, hi = fig.axes[0].get_xlim()
    return float(hi - lo)


def test_one_check_spans_an_hour_not_years() -> None:
    fig = drift_history_figure([check(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))])
    assert span_days(fig) <= 1 / 24 + 1e-9
    lo, hi = (mdates.num2date(x) for x in fig.axes[0].get_xlim())
    assert lo.year == hi.year == 2026


def test_many_checks_span_their_own_time() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    fig = drift_history_figure([check(start + timedelta(hours=h)) for h in range(48, -1, -1)])
    assert 2 <= span_days(fig) <= 2.3


def test_other_has_a_colour_no_intent_has() -> None:
    top = [f"intent_{i}" for i in range(10)]
    mix = [{"bucket": "2026-12-01", "total": 11, "counts": {**{n: 1 for n in top}, "other": 1}}]
    fig = intent_mix_figure({"intent_mix": mix, "top_intents": top})
    colour = {}
    for container in fig.axes[0].containers:
        colour[container.get_label()] = to_hex(container.patches[0].get_facecolor())
    assert colour["other"] == OTHER_COLOUR
    assert len(set(colour.values())) == len(colour)  # every intent its own colour

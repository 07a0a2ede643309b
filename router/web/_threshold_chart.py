"""The Models page's trade-off chart: target precision against the share of tickets auto-routed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from ._charts import PAD_B, PAD_L, PAD_T, H, W, _axes, _svg

SERIES = (("expected_share", "expected (out of fold)", "#4e79a7"), ("share", "hold-out", "#f28e2b"))


def precision_curve(curve: Sequence[Mapping[str, Any]] | None, target: float | None, title: str) -> Markup:
    """One line per series over the targets of ``curve``; the operating point ``target`` is marked."""
    if not curve:
        return Markup("")
    lo, hi = float(curve[0]["target"]), float(curve[-1]["target"])
    span = (hi - lo) or 1.0
    plot_w, plot_h = W - PAD_L - 8, H - PAD_B - PAD_T

    def x_of(t: float) -> float:
        return PAD_L + (t - lo) / span * plot_w

    def y_of(share: float) -> float:
        return H - PAD_B - share * plot_h

    body = _axes(1.0, "{:.0%}")
    for point in curve:
        t = float(point["target"])
        body.append(f'<text x="{x_of(t):.1f}" y="{H - PAD_B + 14}" text-anchor="middle" font-size="9">{t:g}</text>')
    body.append(
        f'<text x="{PAD_L + plot_w / 2:.0f}" y="{H - 4}" text-anchor="middle" font-size="10">target precision</text>'
    )
    for key, label, colour in SERIES:
        pts = [(float(p["target"]), float(p[key])) for p in curve if p.get(key) is not None]
        if not pts:
            continue
        path = " ".join(f"{x_of(t):.1f},{y_of(s):.1f}" for t, s in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for t, s in pts:
            body.append(
                f'<circle cx="{x_of(t):.1f}" cy="{y_of(s):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(label)}: target {t:g}, {s:.1%} auto-routed</title></circle>"
            )
    for i, (_, label, colour) in enumerate(SERIES):
        body.append(
            f'<text x="{W - 12}" y="{PAD_T + 12 + 13 * i}" text-anchor="end" font-size="10" fill="{colour}">'
            f"{escape(label)}</text>"
        )
    if target is not None and lo <= target <= hi:
        x = x_of(float(target))
        near = min(curve, key=lambda p: abs(float(p["target"]) - float(target)))
        body.append(
            f'<line class="operating-point" x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" y2="{H - PAD_B}" stroke="#e15759" '
            f'stroke-dasharray="5 4"><title>operating point: target {float(target):g}, '
            f"{float(near['expected_share']):.1%} expected auto-routed</title></line>"
        )
    return _svg(body, title)

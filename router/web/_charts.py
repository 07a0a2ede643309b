"""Small charts as inline SVG, drawn on the server: no chart library, nothing fetched by the browser.

Each function takes plain figures (as the monitoring services return them) and returns markup;
every label passes through ``escape``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6", "#bab0ac",
)  # fmt: skip
W, H, PAD_L, PAD_B, PAD_T = 640, 220, 44, 36, 12


def _svg(body: list[str], title: str, height: int = H) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _axes(ymax: float, fmt: str = "{:g}", height: int = H) -> list[str]:
    plot_h = height - PAD_B - PAD_T
    out = [
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{height - PAD_B}" stroke="#888"/>',
        f'<line x1="{PAD_L}" y1="{height - PAD_B}" x2="{W - 8}" y2="{height - PAD_B}" stroke="#888"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = height - PAD_B - frac * plot_h
        out.append(
            f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{escape(fmt.format(ymax * frac))}</text>"
        )
    return out


def colours(names: Sequence[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] if n != "other" else "#cccccc" for i, n in enumerate(names)}


def stacked_bars(buckets: Sequence[Mapping[str, Any]], order: Sequence[str], title: str) -> Markup:
    """Intent mix over time: one bar per bucket, one colour per intent (``other`` grey)."""
    if not buckets:
        return Markup("")
    names = [*order, "other"]
    palette = colours(names)
    ymax = max(b["total"] for b in buckets) or 1
    plot_w, plot_h = W - PAD_L - 8, H - PAD_B - PAD_T
    step = plot_w / len(buckets)
    body = _axes(ymax)
    for i, b in enumerate(buckets):
        x, y = PAD_L + i * step + step * 0.1, H - PAD_B
        for name in names:
            n = b["counts"].get(name, 0)
            if not n:
                continue
            h = n / ymax * plot_h
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{h:.1f}" '
                f'fill="{palette[name]}"><title>{escape(b["bucket"])}: {escape(name)} {n}</title></rect>'
            )
        if len(buckets) <= 16 or i % math.ceil(len(buckets) / 16) == 0:
            body.append(
                f'<text x="{x + step * 0.4:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" '
                f'font-size="9">{escape(str(b["bucket"])[5:])}</text>'
            )
    return _svg(body, title)


def histogram(edges: Sequence[float], counts: Sequence[int], title: str, marks: Sequence[float] = ()) -> Markup:
    """Bars over [edges[0], edges[-1]]; ``marks`` are vertical dashed lines (thresholds)."""
    if not counts:
        return Markup("")
    ymax = max(counts) or 1
    plot_w, plot_h = W - PAD_L - 24, H - PAD_B - PAD_T  # room for the last edge's label
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    body = _axes(ymax)
    for i, n in enumerate(counts):
        x0 = PAD_L + (edges[i] - lo) / span * plot_w
        x1 = PAD_L + (edges[i + 1] - lo) / span * plot_w
        h = n / ymax * plot_h
        body.append(
            f'<rect x="{x0 + 1:.1f}" y="{H - PAD_B - h:.1f}" width="{max(x1 - x0 - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{edges[i]:.2f} to {edges[i + 1]:.2f}: {n}'
            "</title></rect>"
        )
    for e in (edges[0], (lo + hi) / 2, edges[-1]):
        x = PAD_L + (e - lo) / span * plot_w
        body.append(f'<text x="{x:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" font-size="10">{e:.2f}</text>')
    for m in marks:
        x = PAD_L + (m - lo) / span * plot_w
        body.append(
            f'<line x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" y2="{H - PAD_B}" stroke="#e15759" stroke-dasharray="4 3"/>'
        )
    return _svg(body, title)


def hbars(values: Mapping[str, float], title: str, fmt: str = "{:.0%}", vmax: float | None = None) -> Markup:
    """One horizontal bar per key (reasons, shares)."""
    if not values:
        return Markup("")
    row, left = 22, 150
    height = PAD_T + row * len(values) + 8
    top = vmax or max(values.values()) or 1.0
    body = []
    for i, (name, v) in enumerate(values.items()):
        y = PAD_T + i * row
        w = max(v / top * (W - left - 70), 0)
        body.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="11">{escape(name)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{PALETTE[1]}"/>'
            f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="11">{escape(fmt.format(v))}</text>'
        )
    return _svg(body, title, height)


def detector_names(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Detector names in the order the p-value chart colours them."""
    return list(dict.fromkeys(name for c in reversed(checks) for name in (c.get("detectors") or {})))


def pvalues(checks: Sequence[Mapping[str, Any]], title: str) -> Markup:
    """Each detector's p-value per drift check (oldest left) on a log scale, with its threshold dashed."""
    series: dict[str, list[tuple[int, float]]] = {}
    thresholds: dict[str, float] = {}
    ordered = list(reversed(checks))
    for i, c in enumerate(ordered):
        for name, r in (c.get("detectors") or {}).items():
            data = r.get("data") or {}
            if data.get("p_val") is None:
                continue
            series.setdefault(name, []).append((i, max(float(data["p_val"]), 1e-12)))
            if data.get("threshold") is not None:
                thresholds[name] = float(data["threshold"])
    if not series:
        return Markup("")
    plot_w, plot_h = W - PAD_L - 8, H - PAD_B - PAD_T
    lo = min(-6.0, math.floor(min(math.log10(p) for s in series.values() for _, p in s)))
    step = plot_w / max(len(ordered) - 1, 1)

    def y_of(p: float) -> float:
        return PAD_T + (math.log10(p) / lo) * plot_h  # 1 at the top, 10^lo at the bottom

    body = [f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#888"/>']
    for exp in range(0, int(lo) - 1, -2):
        body.append(
            f'<text x="{PAD_L - 4}" y="{y_of(10.0**exp) + 4:.1f}" text-anchor="end" font-size="10">1e{exp}</text>'
        )
    palette = colours(detector_names(checks))
    for i in {0, len(ordered) - 1}:
        at = ordered[i].get("at")
        label = at.strftime("%m-%d %H:%M") if hasattr(at, "strftime") else str(at or "")
        body.append(
            f'<text x="{PAD_L + i * step:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" font-size="10">'
            f"{escape(label)}</text>"
        )
    for name, points in series.items():
        colour = palette[name]
        if name in thresholds:
            y = y_of(thresholds[name])
            body.append(
                f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - 8}" y2="{y:.1f}" stroke="{colour}" '
                f'stroke-dasharray="5 4"><title>{escape(name)} threshold {thresholds[name]:g}</title></line>'
            )
        path = " ".join(f"{PAD_L + i * step:.1f},{y_of(p):.1f}" for i, p in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for i, p in points:
            body.append(
                f'<circle cx="{PAD_L + i * step:.1f}" cy="{y_of(p):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)}: p={p:.3g}</title></circle>"
            )
    return _svg(body, title)

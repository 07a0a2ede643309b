"""``router drift report``: the newest check's cost to routing in words, then drift history, intent
mix and confidence histograms as pictures.

matplotlib with the Agg backend (no display), each figure a base64 PNG inside one HTML file, so
the report can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import explain, service
from .summary import summary


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


#: The colour of "other" in the intent mix: grey, never one an intent has.
OTHER_COLOUR = "#bbbbbb"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def drift_history_figure(checks: list[dict[str, Any]]) -> Any:
    """Each detector's p-value per check over time; the time axis spans the checks (an hour around one)."""
    plt = _pyplot()
    from datetime import timedelta

    fig, ax = plt.subplots(figsize=(9, 3.5))
    if checks:
        ordered = checks[::-1]
        xs = [c["at"] for c in ordered]
        for name in ordered[-1]["detectors"]:
            ys = [max(c["detectors"].get(name, {}).get("data", {}).get("p_val", 1.0), 1e-12) for c in ordered]
            ax.plot(xs, ys, marker="o", ms=3, label=name)
        threshold = ordered[-1]["detectors"][next(iter(ordered[-1]["detectors"]))]["data"]["threshold"]
        ax.axhline(threshold, color="red", ls="--", lw=1, label="threshold")
        ax.set_yscale("log")
        for c in ordered:
            if c["is_drift"]:
                ax.axvline(c["at"], color="red", alpha=0.15)
        # Matplotlib pads a single date by years; the checks' own span (at least an hour) is what to show.
        first, last = min(xs), max(xs)
        pad = max((last - first) * 0.05, timedelta(minutes=30))
        ax.set_xlim(first - pad, last + pad)
        ax.legend(fontsize=7, ncol=3)
    ax.set_title("Drift checks: p-value per detector (log scale; red bands = warning or critical)")
    fig.autofmt_xdate()
    return fig


def intent_mix_figure(summ: dict[str, Any]) -> Any:
    """Share of decisions per top intent and day; each intent its own colour, "other" grey."""
    plt = _pyplot()
    import numpy as np

    fig, ax = plt.subplots(figsize=(9, 3.5))
    mix = summ["intent_mix"]
    if mix:
        names = [*summ["top_intents"], "other"]
        cmap = plt.get_cmap("tab20")
        bottom = np.zeros(len(mix))
        labels = [m["bucket"] for m in mix]
        for i, name in enumerate(names):
            vals = np.array([m["counts"].get(name, 0) / max(1, m["total"]) for m in mix])
            colour = OTHER_COLOUR if name == "other" else cmap(i % cmap.N)
            ax.bar(labels, vals, bottom=bottom, label=name, color=colour)
            bottom += vals
        ax.legend(fontsize=6, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_title("Intent mix over time (share of decisions)")
    fig.autofmt_xdate()
    return fig


def _figures(checks: list[dict[str, Any]], summ: dict[str, Any], reference: dict[str, Any] | None) -> dict[str, str]:
    plt = _pyplot()
    import numpy as np

    out: dict[str, str] = {
        "drift_history": _png(drift_history_figure(checks)),
        "intent_mix": _png(intent_mix_figure(summ)),
    }
    fig, ax = plt.subplots(figsize=(9, 3.5))
    hist = summ["confidence_histogram"]
    edges = np.array(hist["edges"])
    counts = np.array(hist["counts"], dtype=float)
    if counts.sum():
        ax.stairs(counts / counts.sum(), edges, fill=True, alpha=0.5, label="recent decisions")
    if reference is not None:
        ref_counts, _ = np.histogram(reference["confidence"], bins=edges)
        ax.stairs(ref_counts / max(1, ref_counts.sum()), edges, lw=2, label="reference")
    ax.set_title("Top confidence: recent decisions against the reference")
    ax.legend(fontsize=8)
    out["confidence"] = _png(fig)
    return out


def render(ctx: Any, days: int = 14) -> str:
    checks = service.history(ctx, limit=200)
    summ = summary(ctx, days=days)
    reference = None
    try:
        version, _ = service.model_for(ctx, None)
        name, reference = service.reference_for(ctx, version)
    except Exception:
        version, name = None, None
    figs = _figures(checks, summ, reference)
    rows = "".join(
        f"<tr><td>{c['at']:%Y-%m-%d %H:%M}</td><td>{html.escape(c['model_version'])}</td><td>{c['window_size']}</td>"
        f"<td>{html.escape(c['severity'])}</td><td>"
        + html.escape("; ".join(explain.why(c["detectors"], ("warning", "critical", "info"))))
        + "</td></tr>"
        for c in checks[:30]
    )
    cost = (
        f"<h2>Routing of the last checked window ({html.escape(checks[0]['severity'])})</h2>"
        f"<p>{html.escape(explain.message(checks[0]))}</p>"
        if checks
        else ""
    )
    imgs = "".join(
        f'<h2>{html.escape(t)}</h2><img alt="{html.escape(t)}" src="data:image/png;base64,{figs[k]}">'
        for k, t in (("drift_history", "Drift history"), ("intent_mix", "Intent mix"), ("confidence", "Confidence"))
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Ticket Router drift report</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}td,th{padding:2px 8px}</style>"
        f"</head><body><h1>Ticket Router drift report</h1><p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"model {html.escape(str(version))}, reference {html.escape(str(name))}; {summ['decisions']} decisions "
        f"in {days} days; review rate {summ['review_rate']}, novelty rate {summ['novelty_rate']}.</p>{cost}{imgs}"
        f"<h2>Latest checks</h2><table><tr><th>at</th><th>model</th><th>window</th><th>severity</th>"
        f"<th>significant detectors and their effect</th></tr>{rows}</table></body></html>"
    )


def write_report(ctx: Any, out: Path, days: int = 14) -> dict[str, Any]:
    page = render(ctx, days)
    tmp = Path(out).with_name(f".{Path(out).name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return {"out": str(out), "bytes": len(page.encode()), "images": page.count("data:image/png;base64,")}

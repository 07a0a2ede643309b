"""Deliveries page: what is waiting to reach the helpdesks, what failed and why, retry buttons."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..db.delivery import ID_MAX
from ..delivery import outbox
from ..errors import NotFound, RouterError
from . import _errors, _session

bp = _errors.attach(Blueprint("web_deliveries", __name__, url_prefix="/admin"))
SHOWN = ("dead", "pending", "sending", "delivered", "superseded")


@bp.get("/deliveries")
@_session.page("viewer", "see deliveries")
def index() -> str:
    status = request.args.get("status", "dead")
    status = status if status in SHOWN else "dead"
    db = _session.ctx().db
    page = outbox.list_deliveries(db, status=status, page_size=100)
    return render_template(
        "admin/deliveries.html",
        page=page,
        status=status,
        statuses=SHOWN,
        backlog=outbox.backlog(db),
        modes=_session.ctx().settings.writeback,
    )


@bp.post("/deliveries/retry")
@_session.page("viewer", "see deliveries")
def retry() -> Any:
    """Retry one dead letter (``id``) or all of them."""
    _session.need("admin", "retry deliveries")
    raw = request.form.get("id", "").strip()
    try:
        ids = None if raw == "all" else [int(raw)]
        if ids and not 1 <= ids[0] <= ID_MAX:
            raise NotFound(f"no delivery {ids[0]}")
        done = outbox.retry(_session.ctx().db, ids)
    except ValueError:
        flash("Not retried: name a delivery by its number.", "error")
    except RouterError as exc:
        flash(f"Not retried: {exc.message}", "error")
    else:
        _session.ctx().delivery.wake()
        note = f" ({done['superseded']} replaced by a newer decision instead)" if done["superseded"] else ""
        flash(f"{done['retried']} delivery(ies) will be sent again{note}.", "ok")
    return redirect(url_for("web_deliveries.index", status="dead"))

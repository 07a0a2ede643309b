"""Tickets page: search by helpdesk id or text; one ticket's every decision with its model and rule-set versions."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..services import search as _search
from ..services.intake import ticket_with_decisions
from . import _errors, _session, _text

bp = _errors.attach(Blueprint("web_tickets", __name__, url_prefix="/admin"))


@bp.get("/tickets")
@_session.page("viewer", "see tickets")
def search() -> str:
    """The latest tickets, or those a search finds (by helpdesk id or words of the text)."""
    query = request.args.get("q", "").strip()[:200]
    results = _search.search_tickets(_session.ctx(), query)
    return render_template("admin/tickets.html", query=query, results=results)


@bp.get("/tickets/<string:source>/<path:external_id>")
@_session.page("viewer", "see tickets")
def show(source: str, external_id: str) -> str:
    ticket = ticket_with_decisions(_session.ctx(), source, external_id)
    for d in ticket["decisions"]:
        d["segments"] = _text.highlight(ticket["text"], d.get("explanation")) if d is ticket["decisions"][0] else None
    return render_template("admin/ticket.html", ticket=ticket)

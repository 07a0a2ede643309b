"""Sign in with a bearer token (the ones ``router tokens create`` prints), sign out, and the home page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from ..auth import authenticate
from ..errors import AuthError
from . import _errors, _session

bp = _errors.attach(
    Blueprint(
        "web",
        __name__,
        url_prefix="/admin",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
)


@bp.get("/")
def home() -> Any:
    """Reviewers start at the queue; viewers at the tickets."""
    user = _session.current_user()
    if user is None:
        return redirect(url_for("web.sign_in"))
    return redirect(url_for("web_review.queue" if user.allows("reviewer") else "web_tickets.search"))


@bp.get("/sign-in")
def sign_in() -> Any:
    return render_template("admin/sign_in.html", next=_session.safe_next(request.args.get("next")))


@bp.post("/sign-in")
def sign_in_post() -> Any:
    token = (request.form.get("token") or "").strip()
    target = _session.safe_next(request.form.get("next"))
    try:
        principal = authenticate(_session.ctx().db, f"Bearer {token}" if token else None)
    except AuthError:
        message = "That token is unknown or revoked. Make one with: router tokens create --role reviewer"
        return render_template("admin/sign_in.html", next=target, error=message), 401
    if principal.role == "ingest":
        message = "Ingest tokens may only post tickets; sign in with a viewer, reviewer or admin token."
        return render_template("admin/sign_in.html", next=target, error=message), 403
    _session.sign_in(principal)
    return redirect(target)


@bp.post("/sign-out")
def sign_out() -> Any:
    _session.sign_out()
    return redirect(url_for("web.sign_in"))

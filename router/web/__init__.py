"""The admin web pages: server-rendered Flask + Jinja, a little plain JavaScript, no build step.

One blueprint per page (review, rules, models, monitoring, tickets) beside ``web`` itself, which
owns sign-in, the templates and the static files. Every page checks the role of the person signed
in; every POST checks the session's CSRF token. Views call services and render what they return.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request
from werkzeug.wrappers import Response

from . import _session, auth, deliveries, models, monitoring, review, rules, tickets

BLUEPRINTS: tuple[Blueprint, ...] = (
    auth.bp,
    review.bp,
    rules.bp,
    models.bp,
    monitoring.bp,
    tickets.bp,
    deliveries.bp,
)
_NAMES = frozenset(b.name for b in BLUEPRINTS)


def init_app(app: Flask) -> None:
    """Register the admin pages under ``/admin`` with their error pages, CSRF check and headers."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)

    @app.before_request
    def _csrf_check() -> None:
        if request.blueprint in _NAMES:
            _session.check_csrf()

    @app.after_request
    def _headers(response: Response) -> Response:
        if request.blueprint in _NAMES:
            _session.no_store(response)
        return response

    app.add_template_filter(plural)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        if request.blueprint not in _NAMES:
            return {}
        return {"csrf_token": _session.csrf_token, "user": _session.current_user()}


def plural(n: Any, word: str, many: str | None = None) -> str:
    """``1 decision``, ``2 decisions`` (``many`` for an irregular plural)."""
    return f"{n} {word if n == 1 else many or word + 's'}"

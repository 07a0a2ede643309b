"""The application factory. Nothing happens at import time."""

from __future__ import annotations

import inspect
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from . import api, logs, web
from ._json import OrjsonProvider
from .api._common import refuse_nul_in_parameters
from .config import Settings, load_settings
from .context import Context, build_context
from .monitoring import metrics

log = logging.getLogger("router.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _Flask(Flask):
    """Flask, asking once per function whether it is a coroutine function.

    Flask asks ``inspect`` for every hook and the view on every request (eleven times for a ticket);
    the answer never changes for a function. Bound methods (a class-based view's per request) are
    asked by their function, so the cache holds only the app's functions.
    """

    _sync: dict[Any, bool] = {}

    def ensure_sync(self, func: Any) -> Any:
        key = getattr(func, "__func__", func)
        is_coroutine = self._sync.get(key)
        if is_coroutine is None:
            is_coroutine = self._sync[key] = inspect.iscoroutinefunction(func)
        return self.async_to_sync(func) if is_coroutine else func


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer for a request that sent no session
    cookie (every API and webhook call); the admin pages' sessions are unchanged."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def create_app(test_config: Mapping[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Build the Flask app; ``settings`` defaults to the ``ROUTER_*`` environment."""
    settings = settings or load_settings()
    settings.check_production()
    logs.configure(settings.log_level)
    app = _Flask(__name__)
    app.session_interface = _CookieSessions()
    app.json = OrjsonProvider(app)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
    )
    if test_config:
        app.config.update(test_config)
    context = build_context(settings)
    app.extensions["router"] = context
    api.init_app(app)
    web.init_app(app)
    _init_request_hooks(app)
    return app


def _init_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        refuse_nul_in_parameters()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
        metrics.LATENCY.labels(endpoint=endpoint).observe(elapsed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if endpoint != "/metrics":
            log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={"status": response.status_code, "ms": round(elapsed * 1000, 2), "endpoint": endpoint},
            )
        return response


def context_of(app: Flask) -> Context:
    ctx: Context = app.extensions["router"]
    return ctx

"""The HTTP API: flask-smorest blueprints, one per resource, and one error handler."""

from __future__ import annotations

from flask import Flask, request

from ..errors import UnsupportedMediaType
from . import (
    deliveries,
    docs,
    errors,
    health,
    models,
    monitoring,
    outcomes,
    review,
    rules,
    thresholds,
    tickets,
    tokens,
    webhooks,
)


def init_app(app: Flask) -> errors.Api:
    app.config.setdefault("API_TITLE", "Ticket Router")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = errors.Api(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                }
            }
        },
    )
    for module in (
        health,
        tickets,
        webhooks,
        rules,
        models,
        thresholds,
        review,
        monitoring,
        outcomes,
        deliveries,
        tokens,
    ):
        api.register_blueprint(module.blp)
    errors.init_app(app)
    docs.init_app(app)

    @app.before_request
    def _json_only() -> None:
        if request.method in ("POST", "PUT", "PATCH") and request.path.startswith("/v1/"):
            if request.path == "/v1/models" and request.mimetype == "multipart/form-data":
                return
            if (request.content_length or 0) > 0 and request.mimetype != "application/json":
                raise UnsupportedMediaType(
                    f"send application/json, not {request.mimetype or 'no content type'}",
                    errors={"Content-Type": ["must be application/json"]},
                )

    return api

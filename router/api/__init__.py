"""The HTTP API: flask-smorest blueprints, one per resource, and one error handler."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import errors, health, tickets, webhooks


def init_app(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "Ticket Router")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_REDOC_PATH", "/docs")
    app.config.setdefault("OPENAPI_REDOC_URL", "/docs/static/redoc.standalone.js")
    api = Api(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                }
            }
        },
    )
    for module in (health, tickets, webhooks):
        api.register_blueprint(module.blp)
    errors.init_app(app)
    return api

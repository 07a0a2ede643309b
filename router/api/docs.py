"""The browsable API documentation at ``/docs`` and the site's icon, served from the package.

The page is Redoc (``static/redoc.standalone.js``, MIT, see ``static/redoc.LICENSE.txt``) reading
``/openapi.json``. Nothing is fetched from elsewhere at run time: the script ships with the package,
and the page's Content-Security-Policy keeps the browser on this origin (Redoc's footer logo, an
image on a CDN, is simply not shown).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, current_app, render_template, send_from_directory, url_for
from werkzeug.wrappers import Response

#: What the documentation page may load: only this origin (Redoc styles inline and searches in a blob worker).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
_WEB_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

bp = Blueprint(
    "api_docs_page",
    __name__,
    static_folder="static",
    static_url_path="/docs/static",
    template_folder="templates",
)


@bp.get("/docs")
def docs() -> Response:
    """The API's operations, rendered by Redoc from the OpenAPI document."""
    html = render_template(
        "api_docs.html",
        title=current_app.config.get("API_TITLE", "API"),
        spec_url=url_for("api-docs.openapi_json"),
    )
    response = current_app.make_response(html)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The site's icon (browsers ask for it on every page)."""
    return send_from_directory(_WEB_STATIC, "favicon.png", mimetype="image/png", max_age=86400)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

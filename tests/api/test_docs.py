"""The API documentation page and the site icon are served from the package."""

from __future__ import annotations

import re


def test_every_asset_the_docs_page_references_answers(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href|spec-url)="([^"]+)"', page.text)
    assert any(a.endswith("redoc.standalone.js") for a in assets), assets
    assert "/openapi.json" in assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is fetched from elsewhere"
        with client.get(asset) as resp:
            assert resp.status_code == 200, asset
            assert resp.data, asset
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_docs_script_is_redoc_itself(client) -> None:
    with client.get("/docs/static/redoc.standalone.js") as script:
        assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
        assert len(script.data) > 500_000 and b"Redoc" in script.data


def test_the_favicon_answers(client) -> None:
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/png"
        assert icon.data.startswith(b"\x89PNG")

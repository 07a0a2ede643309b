"""An API client on each database, for the answers that must not depend on the backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from router.app import create_app
from router.auth import create_token
from router.context import Context

from ..conftest import prepare_home


@dataclass
class Api:
    client: Any
    ctx: Context
    token: Callable[[str], dict[str, str]]


@pytest.fixture
def api(tmp_path: Path, trained: tuple[Path, str], database_url: str) -> Iterator[Api]:
    """A test client of an app on SQLite and on PostgreSQL; ``api.token(role)`` makes a bearer header."""
    ctx = prepare_home(tmp_path / "home", trained, database_url)
    ctx.db.dispose()
    app = create_app({"TESTING": True}, settings=ctx.settings)
    context: Context = app.extensions["router"]
    yield Api(app.test_client(), context, lambda role: {"Authorization": f"Bearer {create_token(context.db, role)}"})
    context.db.dispose()

"""Shared fixtures: a model trained once per session, fresh homes and databases per test."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from router.app import create_app
from router.auth import create_token
from router.config import REPO_ROOT, load_settings
from router.context import Context, build_context
from router.db import Decision, Ticket, upgrade
from router.registry import versions
from router.services.lifecycle import activate_ungated

pytest_plugins = ["pytester"]

PG_ADMIN_URL = os.environ.get("ROUTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BANKING = REPO_ROOT / "fixtures" / "banking77"


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _model_cache_key() -> str:
    """Changes whenever the code or data that make the default model change."""
    import sklearn

    digest = hashlib.sha256(sklearn.__version__.encode())
    for path in sorted(
        [
            *(REPO_ROOT / "router" / "ml").glob("*.py"),
            REPO_ROOT / "router/services/training.py",
            REPO_ROOT / "router/registry/store.py",
            BANKING / "train.csv",
        ]
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The default model trained on BANKING77; returns (models dir, version).

    Trained once per change of the model code or data and kept in `.cache/test-models/`, so
    repeated runs on one machine skip the half-minute of training.
    """
    cache = REPO_ROOT / ".cache" / "test-models" / _model_cache_key()
    marker = cache / "VERSION"
    if not marker.is_file():
        home = tmp_path_factory.mktemp("trained")
        settings = load_settings({"ROUTER_HOME": str(home)})
        upgrade(settings.database_url)
        ctx = build_context(settings)
        from router.services.training import train

        result = train(ctx, BANKING / "train.csv")
        ctx.db.dispose()
        tmp = cache.with_name(cache.name + f".tmp-{os.getpid()}")
        shutil.copytree(settings.models_dir, tmp / "models")
        (tmp / "VERSION").write_text(result["version"])
        try:
            tmp.rename(cache)
        except OSError:  # another run stored it first
            shutil.rmtree(tmp, ignore_errors=True)
    return cache / "models", marker.read_text().strip()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    if not _postgres_up():
        if os.environ.get("ROUTER_REQUIRE_POSTGRES") == "1":
            pytest.fail("ROUTER_REQUIRE_POSTGRES=1 but no PostgreSQL answers on 127.0.0.1:5432")
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432 (set ROUTER_REQUIRE_POSTGRES=1 to make this fail)")
    name = f"router_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both storage backends, for the tests whose behaviour depends on the database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'router.db'}"


def make_env(home: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        "ROUTER_HOME": str(home),
        "ROUTER_WEBHOOK_SECRET_GENERIC": "generic-secret",
        "ROUTER_WEBHOOK_SECRET_ZENDESK": "zendesk-secret",
        "ROUTER_WEBHOOK_SECRET_FRESHDESK": "freshdesk-secret",
        "ROUTER_PLUGIN_DIRS": str(home / "plugins"),
        "ROUTER_LOG_LEVEL": "WARNING",
        **extra,
    }
    if database_url:
        env["ROUTER_DATABASE_URL"] = database_url
    return env


def prepare_home(home: Path, trained: tuple[Path, str], database_url: str | None = None, **extra: str) -> Context:
    """A ROUTER_HOME with the trained model registered and active."""
    models_dir, version = trained
    shutil.copytree(models_dir, home / "models", dirs_exist_ok=True)
    settings = load_settings(make_env(home, database_url, **extra))
    upgrade(settings.database_url)
    ctx = build_context(settings)
    versions.register(ctx.db, ctx.store.card(version))
    activate_ungated(ctx.db, version, actor="test")
    return ctx


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app(home: Path, trained: tuple[Path, str]):  # type: ignore[no-untyped-def]
    ctx = prepare_home(home, trained)
    ctx.db.dispose()
    application = create_app({"TESTING": True}, settings=ctx.settings)
    yield application
    application.extensions["router"].db.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def ctx(app) -> Context:  # type: ignore[no-untyped-def]
    context: Context = app.extensions["router"]
    return context


@pytest.fixture
def token(ctx: Context):  # type: ignore[no-untyped-def]
    """``token(role)`` makes a bearer header for that role."""

    def make(role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {create_token(ctx.db, role)}"}

    return make


def store_decisions(
    db: Any,
    n: int,
    *,
    intent: str = "exchange_rate",
    version: str = "v",
    confidence: float = 0.9,
    low_confidence: bool = False,
    decided_at: datetime | None = None,
) -> None:
    """``n`` stored tickets with one decision each, written directly (figures, not the decide path)."""
    reasons = ["low_confidence"] if low_confidence else []
    with db.session() as s:
        for _ in range(n):
            t = Ticket(source="generic", external_id=f"{version}-{uuid.uuid4().hex}", text="x", content_hash="h")
            s.add(t)
            s.flush()
            s.add(
                Decision(
                    ticket_id=t.id,
                    revision=1,
                    content_hash="h",
                    intent=intent,
                    confidence=confidence,
                    queue="q",
                    priority="normal",
                    model_version=version,
                    ruleset_version="r",
                    needs_review=low_confidence,
                    review_reasons=reasons,
                    decided_at=decided_at or datetime.now(UTC),
                )
            )

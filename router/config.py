"""Settings: one home for configuration.

Every setting comes from a ``ROUTER_*`` environment variable with a default that runs on a
laptop. ``ROUTER_ENV=production`` refuses the unsafe defaults (development secret key, missing
webhook secrets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEV_SECRET_KEY = "dev-secret-key-change-me"
WEBHOOK_SOURCES = ("generic", "zendesk", "freshdesk")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_float(env, name, default))


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    env: str = "development"
    secret_key: str = DEV_SECRET_KEY
    webhook_secrets: Mapping[str, str] = field(default_factory=dict)
    replay_window_s: int = 300
    max_body_bytes: int = 1024 * 1024
    target_precision: float = 0.97
    rules_file: Path = REPO_ROOT / "rules" / "default.yaml"
    training_data: Path = REPO_ROOT / "fixtures" / "banking77" / "train.csv"
    model_poll_s: float = 1.0
    log_level: str = "INFO"
    plugin_dirs: tuple[Path, ...] = ()
    plugin_config: Path | None = None
    contracts_dir: Path = REPO_ROOT / "fixtures" / "contracts"
    smoke_file: Path = REPO_ROOT / "fixtures" / "smoke" / "tickets.csv"
    gate_latency_ms: float = 50.0
    gate_margin_points: float = 0.5
    gate_recall_drop_points: float = 5.0
    watch_minutes: float = 60.0
    watch_tickets: int = 500
    watch_min_tickets: int = 50
    guard_low_confidence_points: float = 10.0
    guard_mean_confidence_drop: float = 0.05
    guard_override_points: float = 10.0
    guard_error_points: float = 2.0

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def production(self) -> bool:
        return self.env == "production"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def check_production(self) -> None:
        """Refuse to run in production with the defaults meant for a laptop."""
        if not self.production:
            return
        problems = []
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 16:
            problems.append("ROUTER_SECRET_KEY must be set to a random value of at least 16 characters")
        missing = [s for s in WEBHOOK_SOURCES if not self.webhook_secrets.get(s)]
        if missing:
            names = ", ".join(f"ROUTER_WEBHOOK_SECRET_{s.upper()}" for s in missing)
            problems.append(f"webhook secrets missing: {names}")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems), errors=problems)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment (``os.environ`` by default)."""
    env = os.environ if env is None else env
    home = Path(env.get("ROUTER_HOME") or "var").resolve()
    db_url = env.get("ROUTER_DATABASE_URL") or f"sqlite:///{home / 'router.db'}"
    secrets = {
        s: env[f"ROUTER_WEBHOOK_SECRET_{s.upper()}"]
        for s in WEBHOOK_SOURCES
        if env.get(f"ROUTER_WEBHOOK_SECRET_{s.upper()}")
    }
    plugin_dirs = tuple(Path(p) for p in (env.get("ROUTER_PLUGIN_DIRS") or "").split(os.pathsep) if p)
    if not plugin_dirs:
        plugin_dirs = (REPO_ROOT / "plugins", home / "plugins")
    plugin_config = env.get("ROUTER_PLUGIN_CONFIG")
    if not plugin_config:
        plugin_config = str(
            home / "plugins.yaml" if (home / "plugins.yaml").is_file() else REPO_ROOT / "plugins/config.yaml"
        )
    rules = env.get("ROUTER_RULES_FILE")
    return Settings(
        home=home,
        database_url=db_url,
        env=env.get("ROUTER_ENV", "development"),
        secret_key=env.get("ROUTER_SECRET_KEY") or DEV_SECRET_KEY,
        webhook_secrets=secrets,
        replay_window_s=_int(env, "ROUTER_REPLAY_WINDOW_S", 300),
        max_body_bytes=_int(env, "ROUTER_MAX_BODY_BYTES", 1024 * 1024),
        target_precision=_float(env, "ROUTER_TARGET_PRECISION", 0.97),
        rules_file=Path(rules) if rules else REPO_ROOT / "rules" / "default.yaml",
        training_data=Path(env.get("ROUTER_TRAINING_DATA") or REPO_ROOT / "fixtures/banking77/train.csv"),
        model_poll_s=_float(env, "ROUTER_MODEL_POLL_S", 1.0),
        log_level=env.get("ROUTER_LOG_LEVEL", "INFO"),
        plugin_dirs=plugin_dirs,
        plugin_config=Path(plugin_config),
        contracts_dir=Path(env.get("ROUTER_CONTRACTS_DIR") or REPO_ROOT / "fixtures" / "contracts"),
        smoke_file=Path(env.get("ROUTER_SMOKE_FILE") or REPO_ROOT / "fixtures" / "smoke" / "tickets.csv"),
        gate_latency_ms=_float(env, "ROUTER_GATE_LATENCY_MS", 50.0),
        gate_margin_points=_float(env, "ROUTER_GATE_MARGIN_POINTS", 0.5),
        gate_recall_drop_points=_float(env, "ROUTER_GATE_RECALL_DROP_POINTS", 5.0),
        watch_minutes=_float(env, "ROUTER_WATCH_MINUTES", 60.0),
        watch_tickets=_int(env, "ROUTER_WATCH_TICKETS", 500),
        watch_min_tickets=_int(env, "ROUTER_WATCH_MIN_TICKETS", 50),
        guard_low_confidence_points=_float(env, "ROUTER_GUARD_LOW_CONFIDENCE_POINTS", 10.0),
        guard_mean_confidence_drop=_float(env, "ROUTER_GUARD_MEAN_CONFIDENCE_DROP", 0.05),
        guard_override_points=_float(env, "ROUTER_GUARD_OVERRIDE_POINTS", 10.0),
        guard_error_points=_float(env, "ROUTER_GUARD_ERROR_POINTS", 2.0),
    )

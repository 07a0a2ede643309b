"""Settings: one home for configuration.

Every setting comes from a ``ROUTER_*`` environment variable with a default that runs on a
laptop. ``ROUTER_ENV=production`` refuses the unsafe defaults (development secret key, missing
webhook secrets).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

DEV_SECRET_KEY = "dev-secret-key-change-me"
WEBHOOK_SOURCES = ("generic", "zendesk", "freshdesk")
REPO_ROOT = Path(__file__).resolve().parent.parent
WRITEBACK_MODES = ("off", "suggest", "route")


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


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name) or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    env: str = "development"
    secret_key: str = DEV_SECRET_KEY
    webhook_secrets: Mapping[str, str] = field(default_factory=dict)
    replay_window_s: int = 300
    max_body_bytes: int = 1024 * 1024
    read_timeout_s: float = 10.0  # a request not received whole by then is answered 408
    server_threads: int = 1  # request threads per `router serve` worker
    server_worker: str = "buffered"  # or "gthread" (gunicorn's own: only behind a buffering proxy)
    target_precision: float = 0.97
    intent_precision_floor: float = 0.90
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
    # monitoring: drift checks, scheduled jobs, alerts
    drift_backend: str = "alibi"
    drift_alpha: float = 0.05
    drift_window: int = 500
    drift_min_window: int = 100
    drift_interval_s: float = 900.0
    # the smallest drift worth an alert (router.monitoring.effects; why each default: README)
    drift_min_accuracy_points: float = 2.0
    drift_min_review_points: float = 5.0
    drift_min_novel_points: float = 3.0
    drift_min_surge_ratio: float = 2.0
    drift_min_surge_tickets: int = 10
    drift_critical_points: float = 5.0
    drift_surge_days: int = 7
    calibration_interval_s: float = 3600.0
    backlog_interval_s: float = 300.0
    watch_interval_s: float = 30.0
    job_timeout_s: float = 120.0
    job_misfire_grace_s: float = 300.0
    scheduler: bool = True
    alert_cooldown_s: float = 3600.0
    alert_webhook_url: str = ""
    alert_smtp_host: str = ""
    alert_smtp_port: int = 25
    alert_smtp_from: str = ""
    alert_smtp_to: tuple[str, ...] = ()
    alert_smtp_user: str = ""
    alert_smtp_password: str = ""
    alert_smtp_starttls: bool = False
    alert_backlog_open: int = 200
    alert_backlog_wait_h: float = 24.0
    alert_accuracy_drop: float = 0.05
    # write-back: connectors, modes, delivery (credentials never appear in repr, logs or pages)
    zendesk_url: str = ""
    zendesk_email: str = ""
    zendesk_api_token: str = field(default="", repr=False)
    freshdesk_url: str = ""
    freshdesk_api_key: str = field(default="", repr=False)
    callback_url: str = ""
    callback_secret: str = field(default="", repr=False)
    writeback: Mapping[str, str] = field(default_factory=dict)
    # Write-back budgets in deliveries a minute, for the whole service. Zendesk's Update Ticket endpoint
    # allows 100 requests a minute per account, agents' own updates in Zendesk included
    # (https://support.zendesk.com/hc/en-us/articles/8638126078234): 50 leaves half to the people.
    # Freshdesk's Growth plan allows 200 calls a minute in all and 80 ticket updates
    # (https://support.freshdesk.com/support/solutions/articles/225439); a delivery makes 3 calls.
    zendesk_rate_per_min: float = 50.0
    freshdesk_rate_per_min: float = 40.0
    callback_rate_per_min: float = 600.0
    delivery_max_attempts: int = 8
    delivery_poll_s: float = 1.0
    delivery_timeout_s: float = 10.0
    delivery_lease_s: float = 60.0
    delivery_backoff_base_s: float = 2.0
    delivery_backoff_cap_s: float = 300.0
    delivery_thread: bool = True
    helpdesk_cache_s: float = 300.0
    alert_delivery_lag_s: float = 300.0
    delivery_lag_interval_s: float = 60.0
    outcome_window: int = 500
    outcome_min: int = 50

    def writeback_mode(self, source: str) -> str:
        """``off``, ``suggest`` or ``route`` for tickets that came from ``source``."""
        return self.writeback.get(source, "off")

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
        read_timeout_s=max(0.1, _float(env, "ROUTER_READ_TIMEOUT_S", 10.0)),
        server_threads=max(1, _int(env, "ROUTER_THREADS", 1)),
        server_worker=_choice(env, "ROUTER_SERVER_WORKER", ("buffered", "gthread")),
        target_precision=_float(env, "ROUTER_TARGET_PRECISION", 0.97),
        intent_precision_floor=_float(env, "ROUTER_INTENT_PRECISION_FLOOR", 0.90),
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
        **_monitoring(env),
        **_writeback(env),
    )


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def _monitoring(env: Mapping[str, str]) -> dict[str, Any]:
    backend = (env.get("ROUTER_DRIFT_BACKEND") or "alibi").strip().lower()
    if backend not in ("alibi", "scipy"):
        raise ConfigError(f"ROUTER_DRIFT_BACKEND must be alibi or scipy, got {backend!r}")
    return {
        "drift_backend": backend,
        "drift_alpha": _float(env, "ROUTER_DRIFT_ALPHA", 0.05),
        "drift_window": _int(env, "ROUTER_DRIFT_WINDOW", 500),
        "drift_min_window": _int(env, "ROUTER_DRIFT_MIN_WINDOW", 100),
        "drift_interval_s": _float(env, "ROUTER_DRIFT_INTERVAL_S", 900.0),
        "drift_min_accuracy_points": _float(env, "ROUTER_DRIFT_MIN_ACCURACY_POINTS", 2.0),
        "drift_min_review_points": _float(env, "ROUTER_DRIFT_MIN_REVIEW_POINTS", 5.0),
        "drift_min_novel_points": _float(env, "ROUTER_DRIFT_MIN_NOVEL_POINTS", 3.0),
        "drift_min_surge_ratio": _float(env, "ROUTER_DRIFT_MIN_SURGE_RATIO", 2.0),
        "drift_min_surge_tickets": _int(env, "ROUTER_DRIFT_MIN_SURGE_TICKETS", 10),
        "drift_critical_points": _float(env, "ROUTER_DRIFT_CRITICAL_POINTS", 5.0),
        "drift_surge_days": _int(env, "ROUTER_DRIFT_SURGE_DAYS", 7),
        "calibration_interval_s": _float(env, "ROUTER_CALIBRATION_INTERVAL_S", 3600.0),
        "backlog_interval_s": _float(env, "ROUTER_BACKLOG_INTERVAL_S", 300.0),
        "watch_interval_s": _float(env, "ROUTER_WATCH_INTERVAL_S", 30.0),
        "job_timeout_s": _float(env, "ROUTER_JOB_TIMEOUT_S", 120.0),
        "job_misfire_grace_s": _float(env, "ROUTER_JOB_MISFIRE_GRACE_S", 300.0),
        "scheduler": _flag(env, "ROUTER_SCHEDULER", True),
        "alert_cooldown_s": _float(env, "ROUTER_ALERT_COOLDOWN_S", 3600.0),
        "alert_webhook_url": env.get("ROUTER_ALERT_WEBHOOK_URL") or "",
        "alert_smtp_host": env.get("ROUTER_ALERT_SMTP_HOST") or "",
        "alert_smtp_port": _int(env, "ROUTER_ALERT_SMTP_PORT", 25),
        "alert_smtp_from": env.get("ROUTER_ALERT_SMTP_FROM") or "",
        "alert_smtp_to": tuple(a.strip() for a in (env.get("ROUTER_ALERT_SMTP_TO") or "").split(",") if a.strip()),
        "alert_smtp_user": env.get("ROUTER_ALERT_SMTP_USER") or "",
        "alert_smtp_password": env.get("ROUTER_ALERT_SMTP_PASSWORD") or "",
        "alert_smtp_starttls": _flag(env, "ROUTER_ALERT_SMTP_STARTTLS", False),
        "alert_backlog_open": _int(env, "ROUTER_ALERT_BACKLOG_OPEN", 200),
        "alert_backlog_wait_h": _float(env, "ROUTER_ALERT_BACKLOG_WAIT_H", 24.0),
        "alert_accuracy_drop": _float(env, "ROUTER_ALERT_ACCURACY_DROP", 0.05),
    }


_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(name: str, url: str, production: bool) -> str:
    """A helpdesk base URL: https, or plain http to a loopback host outside production."""
    url = url.strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{name} must be an https:// URL such as https://acme.zendesk.com, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be a plain base URL (no credentials, query or fragment)")
    if parts.scheme == "http" and (production or not _is_loopback(parts.hostname)):
        where = "with ROUTER_ENV=production" if production else f"for host {parts.hostname!r}"
        raise ConfigError(f"{name} must use https ({where} plain http is refused; http is for loopback tests only)")
    return url


def _writeback(env: Mapping[str, str]) -> dict[str, Any]:
    production = env.get("ROUTER_ENV", "development") == "production"
    modes: dict[str, str] = {}
    for source in WEBHOOK_SOURCES:
        name = f"ROUTER_WRITEBACK_{source.upper()}"
        mode = (env.get(name) or "off").strip().lower()
        if mode not in WRITEBACK_MODES:
            raise ConfigError(f"{name} must be one of {', '.join(WRITEBACK_MODES)}, got {mode!r}")
        modes[source] = mode
    out: dict[str, Any] = {
        "zendesk_url": check_base_url("ROUTER_ZENDESK_URL", env.get("ROUTER_ZENDESK_URL") or "", production),
        "zendesk_email": (env.get("ROUTER_ZENDESK_EMAIL") or "").strip(),
        "zendesk_api_token": env.get("ROUTER_ZENDESK_API_TOKEN") or "",
        "freshdesk_url": check_base_url("ROUTER_FRESHDESK_URL", env.get("ROUTER_FRESHDESK_URL") or "", production),
        "freshdesk_api_key": env.get("ROUTER_FRESHDESK_API_KEY") or "",
        "callback_url": env.get("ROUTER_CALLBACK_URL") or "",
        "callback_secret": env.get("ROUTER_CALLBACK_SECRET") or "",
        "writeback": modes,
        "zendesk_rate_per_min": _float(env, "ROUTER_ZENDESK_RATE_PER_MIN", 50.0),
        "freshdesk_rate_per_min": _float(env, "ROUTER_FRESHDESK_RATE_PER_MIN", 40.0),
        "callback_rate_per_min": _float(env, "ROUTER_CALLBACK_RATE_PER_MIN", 600.0),
        "delivery_max_attempts": max(1, _int(env, "ROUTER_DELIVERY_MAX_ATTEMPTS", 8)),
        "delivery_poll_s": _float(env, "ROUTER_DELIVERY_POLL_S", 1.0),
        "delivery_timeout_s": _float(env, "ROUTER_DELIVERY_TIMEOUT_S", 10.0),
        "delivery_lease_s": _float(env, "ROUTER_DELIVERY_LEASE_S", 60.0),
        "delivery_backoff_base_s": _float(env, "ROUTER_DELIVERY_BACKOFF_BASE_S", 2.0),
        "delivery_backoff_cap_s": _float(env, "ROUTER_DELIVERY_BACKOFF_CAP_S", 300.0),
        "delivery_thread": _flag(env, "ROUTER_DELIVERY_THREAD", True),
        "helpdesk_cache_s": _float(env, "ROUTER_HELPDESK_CACHE_S", 300.0),
        "alert_delivery_lag_s": _float(env, "ROUTER_ALERT_DELIVERY_LAG_S", 300.0),
        "delivery_lag_interval_s": _float(env, "ROUTER_DELIVERY_LAG_INTERVAL_S", 60.0),
        "outcome_window": max(1, _int(env, "ROUTER_OUTCOME_WINDOW", 500)),
        "outcome_min": max(1, _int(env, "ROUTER_OUTCOME_MIN", 50)),
    }
    out["callback_url"] = check_base_url("ROUTER_CALLBACK_URL", out["callback_url"], production)
    needs = {
        "zendesk": (
            ("ROUTER_ZENDESK_URL", "zendesk_url"),
            ("ROUTER_ZENDESK_EMAIL", "zendesk_email"),
            ("ROUTER_ZENDESK_API_TOKEN", "zendesk_api_token"),
        ),
        "freshdesk": (("ROUTER_FRESHDESK_URL", "freshdesk_url"), ("ROUTER_FRESHDESK_API_KEY", "freshdesk_api_key")),
        "generic": (("ROUTER_CALLBACK_URL", "callback_url"), ("ROUTER_CALLBACK_SECRET", "callback_secret")),
    }
    for source, required in needs.items():
        missing = [env_name for env_name, key in required if not out[key]]
        if modes[source] != "off" and missing:
            raise ConfigError(f"ROUTER_WRITEBACK_{source.upper()}={modes[source]} needs {', '.join(missing)}")
    return out


# --- an optional file of settings ------------------------------------------------------------------------


def env_file_path(env: Mapping[str, str]) -> Path:
    """``ROUTER_ENV_FILE``, else ``$ROUTER_HOME/router.env`` (``./var/router.env`` under ``make run``)."""
    given = env.get("ROUTER_ENV_FILE")
    if given:
        return Path(given)
    return Path(env.get("ROUTER_HOME") or "var") / "router.env"


def read_env_file(path: Path) -> dict[str, str]:
    """``ROUTER_*=value`` lines of ``path``: blank lines and ``#`` comments skipped, ``export`` and one pair
    of surrounding quotes allowed, nothing expanded. Anything else is a ConfigError naming the line."""
    out: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.startswith("ROUTER_") or not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}, line {number}: expected ROUTER_NAME=value, got {raw.strip()[:60]!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def apply_env_file(environ: MutableMapping[str, str]) -> Path | None:
    """Add the env file's settings to ``environ`` (the process environment wins); returns the file read."""
    path = env_file_path(environ)
    if not path.is_file():
        if environ.get("ROUTER_ENV_FILE"):
            raise ConfigError(f"ROUTER_ENV_FILE={path} does not exist")
        return None
    for key, value in read_env_file(path).items():
        environ.setdefault(key, value)
    return path

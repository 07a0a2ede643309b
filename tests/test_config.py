"""Settings and the production guard."""

from __future__ import annotations

import pytest

from router.config import load_settings
from router.errors import ConfigError


def test_defaults_run_on_a_laptop(tmp_path) -> None:
    s = load_settings({"ROUTER_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'router.db'}"
    assert s.models_dir == tmp_path / "models" and not s.production
    s.check_production()


def test_production_refuses_the_development_secret_and_missing_webhook_secrets(tmp_path) -> None:
    s = load_settings({"ROUTER_HOME": str(tmp_path), "ROUTER_ENV": "production"})
    with pytest.raises(ConfigError) as err:
        s.check_production()
    assert "ROUTER_SECRET_KEY" in err.value.message and "ROUTER_WEBHOOK_SECRET_ZENDESK" in err.value.message


def test_production_starts_with_real_secrets(tmp_path) -> None:
    env = {
        "ROUTER_HOME": str(tmp_path),
        "ROUTER_ENV": "production",
        "ROUTER_SECRET_KEY": "k" * 32,
        "ROUTER_WEBHOOK_SECRET_GENERIC": "a",
        "ROUTER_WEBHOOK_SECRET_ZENDESK": "b",
        "ROUTER_WEBHOOK_SECRET_FRESHDESK": "c",
    }
    load_settings(env).check_production()


def test_a_bad_number_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="ROUTER_TARGET_PRECISION"):
        load_settings({"ROUTER_HOME": str(tmp_path), "ROUTER_TARGET_PRECISION": "high"})

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


# --- the optional env file -------------------------------------------------------------------------------


def test_an_env_file_gives_settings_the_environment_has_not(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from router.config import apply_env_file, read_env_file

    env_file = tmp_path / "router.env"
    env_file.write_text(
        "# webhook secrets\n\n"
        "ROUTER_WEBHOOK_SECRET_GENERIC=from-file\n"
        "export ROUTER_WEBHOOK_SECRET_ZENDESK='quoted # not a comment'\n"
        'ROUTER_ZENDESK_URL="https://acme.zendesk.com"\n'
        "ROUTER_LOG_LEVEL=DEBUG\n"
    )
    assert read_env_file(env_file)["ROUTER_WEBHOOK_SECRET_ZENDESK"] == "quoted # not a comment"
    environ = {"ROUTER_ENV_FILE": str(env_file), "ROUTER_LOG_LEVEL": "WARNING"}
    assert apply_env_file(environ) == env_file
    assert environ["ROUTER_WEBHOOK_SECRET_GENERIC"] == "from-file"
    assert environ["ROUTER_ZENDESK_URL"] == "https://acme.zendesk.com"
    assert environ["ROUTER_LOG_LEVEL"] == "WARNING"  # the real environment wins
    settings = load_settings(environ)
    assert settings.webhook_secrets["generic"] == "from-file"


def test_the_env_file_defaults_to_the_home_and_is_optional(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from router.config import apply_env_file

    environ = {"ROUTER_HOME": str(tmp_path)}
    assert apply_env_file(environ) is None and environ == {"ROUTER_HOME": str(tmp_path)}
    (tmp_path / "router.env").write_text("ROUTER_WEBHOOK_SECRET_GENERIC=s\n")
    assert apply_env_file(environ) == tmp_path / "router.env"
    assert environ["ROUTER_WEBHOOK_SECRET_GENERIC"] == "s"


@pytest.mark.parametrize(
    "line", ["SECRET=x", "ROUTER_WEBHOOK_SECRET_GENERIC", "ROUTER WEBHOOK=x"], ids=["not-router", "no-value", "space"]
)
def test_a_bad_env_file_line_is_named(tmp_path, line: str) -> None:  # type: ignore[no-untyped-def]
    from router.config import apply_env_file

    (tmp_path / "router.env").write_text(f"# ok\n{line}\n")
    with pytest.raises(ConfigError, match="line 2"):
        apply_env_file({"ROUTER_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="does not exist"):
        apply_env_file({"ROUTER_ENV_FILE": str(tmp_path / "missing.env")})


def test_the_router_command_reads_the_env_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    home = tmp_path / "home"
    home.mkdir()
    db = tmp_path / "from-file.db"
    (home / "router.env").write_text(f"ROUTER_DATABASE_URL=sqlite:///{db}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env["ROUTER_HOME"] = str(home)
    router = str(Path(sys.executable).parent / "router")
    done = subprocess.run([router, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert str(db) in done.stdout and db.is_file()
    (home / "router.env").write_text("not a setting\n")
    bad = subprocess.run([router, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "line 1" in bad.stderr and "Traceback" not in bad.stderr

"""Schemathesis over the OpenAPI document against a real ``router serve`` (two workers, loopback), per database.

Every operation, with an admin bearer token: schemathesis' coverage, fuzzing and stateful phases (the
stateful one follows the links it infers between operations, such as ``GET /v1/models`` to
``POST /v1/models/{version}/canary``). Four checks must hold for every case: no answer is a 5xx, every
answer matches the schema and the content type the document declares for its status code, and a method
an operation does not have is answered 405 with an ``Allow`` header.

The seed is fixed (``FUZZ_SEED``, default 1), so a failure in CI reproduces; ``make fuzz`` runs it with a
random seed and more cases (``FUZZ_SEED=random``, ``FUZZ_EXAMPLES``). Schemathesis is an optional test
extra: without it the test is skipped.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from router.auth import create_token
from router.config import REPO_ROOT
from router.testing.server import RouterProcess

from .conftest import make_env, prepare_home

pytest.importorskip("schemathesis")

pytestmark = pytest.mark.server

ST = str(Path(sys.executable).parent / "st")
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,unsupported_method"
MIN_CASES = 1_000


def _seed() -> int:
    value = os.environ.get("FUZZ_SEED", "1")
    return random.SystemRandom().randrange(2**31) if value == "random" else int(value)


def test_schemathesis_finds_no_server_error_or_schema_violation(
    tmp_path: Path,
    trained: tuple[Path, str],
    database_url: str,
) -> None:
    home = tmp_path / "home"
    ctx = prepare_home(home, trained, database_url)
    token_name = f"schemathesis-{secrets.token_hex(8)}"
    token = create_token(ctx.db, "admin", token_name)
    ctx.db.dispose()

    examples = int(os.environ.get("FUZZ_EXAMPLES", "10"))
    seed = _seed()
    report = tmp_path / "schemathesis.json"
    server = RouterProcess(make_env(home, database_url), workers=2, log=tmp_path / "serve.log").start()
    try:
        run = subprocess.run(
            [
                ST,
                "run",
                f"{server.base}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(examples),
                "--seed",
                str(seed),
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--generation-database",
                "none",
                "--report",
                "json",
                "--report-json-path",
                str(report),
                "--no-color",
            ],
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO_ROOT),
                "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
                "FUZZ_TOKEN_NAME": token_name,
            },
            capture_output=True,
            text=True,
            timeout=float(os.environ.get("FUZZ_TIMEOUT_S", "600")),
        )
    finally:
        server.kill()

    output = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert report.is_file(), f"schemathesis wrote no report (exit {run.returncode}, seed {seed}):\n{output}"
    result = json.loads(report.read_text())
    cases = result["test_cases"]
    print(f"schemathesis seed {seed}: {cases['generated']} cases in {result['running_time']:.0f} s")
    assert result["failures"] == [] and cases["with_failures"] == 0, f"seed {seed}:\n{output}"
    assert cases["errored"] == 0 and result["operations"]["errored"] == 0, f"seed {seed}:\n{output}"
    assert result["operations"]["tested"] == result["operations"]["total"], output
    # the document carries no examples, so that phase may be skipped; the other three must run
    assert {name: phase["status"] for name, phase in result["phases"].items() if name != "examples"} == {
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }, result["phases"]
    assert cases["generated"] >= MIN_CASES, f"only {cases['generated']} cases (seed {seed})"
    assert run.returncode == 0, output

"""Schemathesis hooks for ``tests/test_schemathesis.py`` (loaded by the ``st`` command through SCHEMATHESIS_HOOKS).

``DELETE /v1/tokens/{name}`` is fuzzed like every other operation, but never with the name of the token
the run itself authenticates with: revoking it would turn every later case into a 401 and test nothing.
The stateful phase finds that name in ``GET /v1/tokens`` and would otherwise follow it.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

KEEP_TOKEN = os.environ.get("FUZZ_TOKEN_NAME", "")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    params = case.path_parameters or {}
    if KEEP_TOKEN and case.operation.path == "/v1/tokens/{name}" and params.get("name") == KEEP_TOKEN:
        case.path_parameters = {**params, "name": KEEP_TOKEN + "-other"}

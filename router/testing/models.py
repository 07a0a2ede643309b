"""Model registry helpers for tests and benchmarks."""

from __future__ import annotations

import json
import shutil
from typing import Any

from ..registry import versions


def register_copy(ctx: Any, version: str, suffix: str = "-b") -> str:
    """Register the artefact of ``version`` again under ``version + suffix``: the same weights with a
    new identity, so activation and rollback can be exercised without training twice."""
    new = version + suffix
    source, target = ctx.store.path_for(version), ctx.store.path_for(new)
    if not target.exists():
        shutil.copytree(source, target)
        card = json.loads((target / "card.json").read_text())
        card.update(version=new, parent=version)
        (target / "card.json").write_text(json.dumps(card))
        versions.register(ctx.db, card)
    return new

"""Artefacts on disk: ``$ROUTER_HOME/models/<version>/{model.joblib, card.json, holdout.csv}``.

joblib runs code when it loads, so an artefact is only unpickled after its path is proven to be
inside the registry and its SHA-256 matches the card; a card written by a different
scikit-learn is refused before loading, because pickles do not survive version changes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy
import scipy
import sklearn

from ..errors import ModelIntegrityError, NotFound

ARTEFACT = "model.joblib"
CARD = "card.json"
HOLDOUT = "holdout.csv"
REFERENCE = "reference.npz"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def code_version() -> str | None:
    """The git commit of the code that trained a model, when it runs from a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def new_version_id(fingerprint: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    return f"v{stamp}-{fingerprint[:6]}"


class ModelStore:
    """The directory of model versions."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, version: str) -> Path:
        if not _VERSION_RE.match(version or ""):
            raise ModelIntegrityError(f"invalid model version name {version!r}")
        root = self.root.resolve()
        path = (root / version).resolve()
        if path.parent != root:
            raise ModelIntegrityError(f"model path for {version!r} is outside the registry {root}")
        return path

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CARD).is_file() and not p.name.startswith("."))

    def card(self, version: str) -> dict[str, Any]:
        path = self.path_for(version) / CARD
        if not path.is_file():
            raise NotFound(f"no model version {version!r} in {self.root}")
        card: dict[str, Any] = json.loads(path.read_text())
        return card

    def save(
        self,
        version: str,
        model: Any,
        card: dict[str, Any],
        holdout: tuple[list[str], list[str]] | None = None,
        reference: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write artefact, card, held-out set and drift reference into a temporary directory, then
        rename it in place.

        A crash at any point leaves either the whole version or nothing.  ``reference`` holds the
        drift checks' held-out arrays (saved as float32 ``reference.npz``, no pickles).
        """
        final = self.path_for(version)
        if final.exists():
            raise ModelIntegrityError(f"model version {version!r} already exists")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=self.root))
        try:
            joblib.dump(model, tmp / ARTEFACT, compress=3)
            if holdout is not None:
                with (tmp / HOLDOUT).open("w", newline="") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(["text", "category"])
                    writer.writerows(zip(*holdout, strict=True))
            extra: dict[str, Any] = {}
            if reference is not None:
                arrays = {k: numpy.asarray(v, dtype=numpy.float32) for k, v in reference.items()}
                with (tmp / REFERENCE).open("wb") as fh:
                    numpy.savez(fh, **arrays)
                extra["reference"] = {
                    "file": REFERENCE,
                    "sha256": sha256_file(tmp / REFERENCE),
                    "rows": len(next(iter(arrays.values()))) if arrays else 0,
                    "arrays": {k: list(v.shape) for k, v in arrays.items()},
                }
            card = {
                **card,
                "version": version,
                "libraries": library_versions(),
                **extra,
                "artefact": {
                    "file": ARTEFACT,
                    "sha256": sha256_file(tmp / ARTEFACT),
                    "bytes": (tmp / ARTEFACT).stat().st_size,
                },
            }
            (tmp / CARD).write_text(json.dumps(card, indent=2, sort_keys=True))
            for f in tmp.iterdir():
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return card

    def verify(self, version: str) -> dict[str, Any]:
        """Checks that must pass before unpickling; returns the card."""
        card = self.card(version)
        artefact = self.path_for(version) / card.get("artefact", {}).get("file", ARTEFACT)
        if artefact.parent != self.path_for(version) or not artefact.is_file():
            raise ModelIntegrityError(f"model {version}: artefact file missing")
        expected = card.get("artefact", {}).get("sha256")
        actual = sha256_file(artefact)
        if not expected or actual != expected:
            raise ModelIntegrityError(
                f"model {version}: artefact SHA-256 {actual[:12]}… does not match the card's "
                f"{str(expected)[:12]}…; refusing to load it",
                errors={"expected": expected, "actual": actual},
            )
        built = card.get("libraries", {}).get("scikit-learn")
        if built != sklearn.__version__:
            raise ModelIntegrityError(
                f"model {version} was built with scikit-learn {built}, this process has "
                f"{sklearn.__version__}; retrain it or install scikit-learn=={built}",
                errors={"card": built, "installed": sklearn.__version__},
            )
        return card

    def load(self, version: str) -> Any:
        card = self.verify(version)
        return joblib.load(self.path_for(version) / card["artefact"]["file"])

    def reference(self, version: str) -> dict[str, numpy.ndarray]:
        """The drift reference arrays kept with ``version``, after their checksum matches the card."""
        info = self.card(version).get("reference")
        if not info:
            raise NotFound(f"model {version} has no drift reference; retrain it to get one")
        path = self.path_for(version) / REFERENCE
        if not path.is_file() or sha256_file(path) != info.get("sha256"):
            raise ModelIntegrityError(f"model {version}: the drift reference is missing or does not match its card")
        with numpy.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def holdout(self, version: str) -> tuple[list[str], list[str]]:
        path = self.path_for(version) / HOLDOUT
        if not path.is_file():
            raise NotFound(f"model {version} has no recorded held-out set")
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        return [r["text"] for r in rows], [r["category"] for r in rows]


def import_artefact(store: ModelStore, artefact: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Copy an artefact produced elsewhere into the registry, atomically, if its card vouches for it.

    Nothing is unpickled here: the checksum, the name and the library versions are checked, and
    the caller runs the artefact in a separate process before registering it.
    """
    version = str(card.get("version") or "")
    final = store.path_for(version)
    if final.exists():
        raise ModelIntegrityError(f"model version {version!r} already exists")
    expected = (card.get("artefact") or {}).get("sha256")
    actual = sha256_file(artefact)
    if expected != actual:
        raise ModelIntegrityError(
            f"the artefact's SHA-256 {actual[:12]}… does not match the card's {str(expected)[:12]}…",
            errors={"expected": expected, "actual": actual},
        )
    built = (card.get("libraries") or {}).get("scikit-learn")
    if built != sklearn.__version__:
        raise ModelIntegrityError(
            f"the model was built with scikit-learn {built}; this service runs {sklearn.__version__}",
            errors={"card": built, "installed": sklearn.__version__},
        )
    store.root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=store.root))
    try:
        shutil.copyfile(artefact, tmp / ARTEFACT)
        card = {**card, "artefact": {**card["artefact"], "file": ARTEFACT}}
        (tmp / CARD).write_text(json.dumps(card, indent=2, sort_keys=True))
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return card

"""Installing is quiet: every folder of files the package ships is a declared package."""

from __future__ import annotations

import pytest

from router.config import REPO_ROOT


def test_every_folder_of_shipped_files_is_a_declared_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # setuptools warns "Package 'router.db.migrations' is absent from the packages configuration" for
    # each folder of package data that is not itself in `packages`.
    from setuptools.config.setupcfg import read_configuration

    monkeypatch.chdir(REPO_ROOT)
    packages = set(read_configuration(REPO_ROOT / "setup.cfg")["options"]["packages"])
    folders = {
        ".".join(path.parent.relative_to(REPO_ROOT).parts)
        for path in (REPO_ROOT / "router").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert folders - packages == set()
    assert not [p for p in packages if "__pycache__" in p]
    for needed in ("router.db.migrations.versions", "router.web.templates.admin", "router.api.static"):
        assert needed in packages

"""The committed lock: it satisfies pyproject.toml's ranges, pins every file by hash, and is what
the suite runs on (scripts/setup.sh installs it; scripts/test-latest.sh runs the suite beyond it)."""
from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PINNED = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", re.M)


def locked() -> dict[str, str]:
    return {canonicalize_name(name): pin for name, pin in PINNED.findall((ROOT / "requirements.lock").read_text())}


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_the_lock_satisfies_every_range_of_pyproject():
    pins = locked()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    # Every major version is bounded but for the exact pins, so a new one reaches a user's
    # install only after scripts/test-latest.sh and a new lock.
    for requirement in requirements():
        assert any(spec.operator in ("<", "==") for spec in requirement.specifier), requirement


def test_every_locked_file_is_pinned_by_hash():
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text().split("\n", 2)[2])
    assert len(entries) == len(locked()) > 50
    assert all(re.search(r"--hash=sha256:[0-9a-f]{64}", entry) for entry in entries)


@pytest.mark.skipif(os.environ.get("GESPACE_DEPENDENCIES") == "latest",
                    reason="scripts/test-latest.sh runs the suite on the newest releases, not the lock")
def test_the_suite_runs_on_the_locked_versions():
    differ = {}
    for name, pin in locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pin:
            differ[name] = (pin, installed)
    assert differ == {}, "the environment is not the lock's: run scripts/setup.sh"

"""A campaign's directory: the spec as run, its settings, the environment, and trials.jsonl.

``trials.jsonl`` is append-only, one record per finished trial. Each record is
one ``write`` of one line on a file opened with O_APPEND and then fsync'd, so a
driver killed mid-campaign leaves at worst a torn last line, which reading
skips; every earlier trial survives.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

TRIALS = "trials.jsonl"
SPEC = "spec.yaml"
SETTINGS = "campaign.json"
ENVIRONMENT = "environment.json"

# Statuses of a trial record. Only "ok" and "stopped" (early-stopped by the
# scheduler) carry a validation error that ranks a point.
RANKED = ("ok", "stopped")


class CampaignStore:
    """Read and append the records of one campaign directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def trials_path(self) -> Path:
        return self.directory / TRIALS

    def exists(self) -> bool:
        return (self.directory / SETTINGS).exists()

    def create(self, spec_path: str, settings: dict[str, Any]) -> None:
        """Start a campaign: copy the spec, write settings and environment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec_path, self.directory / SPEC)
        _write_json(self.directory / SETTINGS, settings)
        _write_json(self.directory / ENVIRONMENT, environment())
        self.trials_path.touch()

    def settings(self) -> dict[str, Any]:
        return json.loads((self.directory / SETTINGS).read_text())

    @property
    def spec_path(self) -> Path:
        return self.directory / SPEC

    def append(self, record: dict[str, Any]) -> None:
        """Append one record atomically (one write of one line, then fsync)."""
        line = (json.dumps(record, sort_keys=True, default=_jsonable) + "\n").encode()
        fd = os.open(self.trials_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Every complete record; a torn last line (a killed writer) is skipped."""
        return list(self._iter_records())

    def _iter_records(self) -> Iterator[dict[str, Any]]:
        if not self.trials_path.exists():
            return
        with open(self.trials_path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # torn write of a killed driver
                try:
                    yield json.loads(raw)
                except json.JSONDecodeError:
                    continue

    def finished(self) -> dict[str, dict[str, Any]]:
        """The latest record per point id: points a resumed campaign must not train again."""
        return {record["id"]: record for record in self._iter_records()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")
    os.replace(temporary, path)


def environment() -> dict[str, Any]:
    """Package versions, git revision and hardware of the driver."""
    packages = {}
    for name in ("gespace", "torch", "torchvision", "ray", "fvcore", "optuna", "numpy"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                  cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        revision = None
    hardware: dict[str, Any] = {"machine": platform.machine(), "processor": platform.processor(),
                                "cpus": os.cpu_count(), "system": platform.platform()}
    try:
        import torch
        hardware["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        hardware["cuda"] = []
    return {"python": sys.version.split()[0], "packages": packages, "git_revision": revision,
            "hardware": hardware, "argv": sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

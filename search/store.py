"""A campaign's directory: the spec as run, its settings, the environment, and trials.jsonl.

``trials.jsonl`` is append-only, one `TrialRecord` per line. Each record is one
``write`` of one line on a file opened with O_APPEND and then fsync'd, so a
driver killed mid-campaign leaves at worst a torn last line: reading skips it,
and the next append (or a resume) first moves it aside to ``trials.torn``, so
no record is ever glued onto a fragment. Every earlier trial survives.

One driver at a time: `CampaignStore.lock` holds an exclusive ``flock`` on
``driver.lock`` for the driver's life. The kernel drops it when the driver
dies, SIGKILL included, so a killed campaign can always be resumed.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from gespace.files import MAX_FILE_BYTES, InputError, decode, parse_json, read_json, read_text
from search.records import INTERRUPTED, RecordError, TrialRecord

TRIALS = "trials.jsonl"
TORN = "trials.torn"
SPEC = "spec.yaml"
SETTINGS = "campaign.json"
ENVIRONMENT = "environment.json"
LOCK = "driver.lock"
CONFIRMATION = "confirmation.json"
DECISIONS = "decisions.jsonl"  # the successive-halving scheduler's promotion decisions (the audit trail)


class StoreError(Exception):
    """A campaign directory that cannot be used as asked (one line for the user)."""


class CampaignBusy(StoreError):
    """Another driver holds the campaign directory."""


class CorruptRecords(StoreError):
    """A complete line of trials.jsonl that is not a record."""


class CampaignStore:
    """Read and append the records of one campaign directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        # The records read so far, and the file (inode) and byte they were read to: trials.jsonl
        # only grows (a torn tail is cut, and then read again from the start), so each read
        # parses only what was appended since, not the whole campaign at every refresh.
        self._read: list[TrialRecord] = []
        self._inode: int | None = None
        self._offset = 0

    @property
    def trials_path(self) -> Path:
        return self.directory / TRIALS

    def exists(self) -> bool:
        return (self.directory / SETTINGS).exists()

    def create(self, spec_path: str, settings: dict[str, Any]) -> None:
        """Start a campaign: copy the spec, write settings and environment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec_path, self.directory / SPEC)
        write_json(self.directory / SETTINGS, settings)
        write_json(self.directory / ENVIRONMENT, environment())
        self.trials_path.touch()

    def settings(self) -> dict[str, Any]:
        """The campaign's settings; `StoreError` if it has none or they are unreadable."""
        path = self.directory / SETTINGS
        if not self.exists():
            raise StoreError(f"{self.directory}: not a campaign directory (no {SETTINGS})")
        try:
            settings = read_json(path, "campaign settings")
        except InputError as err:
            raise StoreError(str(err)) from None
        if not isinstance(settings, dict):
            raise StoreError(f"{path}: campaign settings are not a JSON object")
        if "race_looks" in settings:  # races that looked after every round from the third: the same last round
            settings["race_rounds"] = 2 + settings.pop("race_looks")
        return settings

    def update_settings(self, settings: dict[str, Any]) -> None:
        write_json(self.directory / SETTINGS, settings)

    def confirmation(self) -> list[tuple[str | None, dict[str, Any]]] | None:
        """The points the confirmation phase trains, once chosen: (anchor name or None, point)."""
        path = self.directory / CONFIRMATION
        if not path.exists():
            return None
        try:
            return [(item["name"], item["point"]) for item in read_json(path, "confirmation list")]
        except InputError as err:
            raise StoreError(str(err)) from None
        except (KeyError, TypeError) as err:
            raise StoreError(f"{path}: unreadable confirmation list ({err})") from None

    def save_confirmation(self, points: list[tuple[str | None, dict[str, Any]]]) -> None:
        write_json(self.directory / CONFIRMATION, [{"name": name, "point": point} for name, point in points])

    @property
    def spec_path(self) -> Path:
        return self.directory / SPEC

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the campaign for this driver; `CampaignBusy` naming the holder if another has it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children (PEP 446)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 4096).decode(errors="replace").strip() or "another driver"
                raise CampaignBusy(f"campaign {self.directory} is being run by {holder}; "
                                   "wait for it to end (or stop it) before resuming") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            yield
        finally:
            os.close(fd)  # releases the flock

    def repair(self) -> int:
        """Move a torn last line (a writer killed mid-record) to trials.torn; its size in bytes, or 0."""
        if not self.trials_path.exists():
            return 0
        with open(self.trials_path, "rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return 0
            handle.seek(max(0, size - (1 << 20)))
            tail = handle.read()
            cut = size - len(tail) + tail.rfind(b"\n") + 1  # rfind -1 -> the whole tail
            handle.seek(cut)
            fragment = handle.read()
            with open(self.directory / TORN, "ab") as torn:
                torn.write(fragment + b"\n")
                torn.flush()
                os.fsync(torn.fileno())
            handle.truncate(cut)
            handle.flush()
            os.fsync(handle.fileno())
        return len(fragment)

    def append(self, record: TrialRecord) -> None:
        """Append one record atomically (one write of one line, then fsync)."""
        self.repair()  # never glue a record onto a torn fragment
        _append_line(self.trials_path, record.to_json())

    def append_decision(self, decision: dict[str, Any]) -> None:
        """Keep one of the scheduler's decisions (`search.schedulers.SuccessiveHalving.decisions`)."""
        _append_line(self.directory / DECISIONS, decision)

    def decisions(self) -> list[dict[str, Any]]:
        """The scheduler's decisions, in the order made ([] before any); a torn last line (a killed
        driver's) is skipped, and a complete line that is not a decision is refused naming it."""
        path = self.directory / DECISIONS
        if not path.exists():
            return []
        try:
            text = read_text(path, "decision log", max_bytes=64 * MAX_FILE_BYTES)
        except InputError as err:
            raise StoreError(str(err)) from None
        decisions = []
        for number, line in enumerate(text.split("\n")[:-1], 1):
            try:
                decision = parse_json(line, f"{path}:{number}")
            except InputError as err:
                raise CorruptRecords(f"{err}; not a scheduler decision") from None
            if not isinstance(decision, dict) or not {"rung", "ranking", "promoted"} <= set(decision):
                raise CorruptRecords(f"{path}:{number}: not a scheduler decision")
            decisions.append(decision)
        return decisions

    def records(self) -> list[TrialRecord]:
        """Every complete record, in the order written; a torn last line is skipped.

        A complete line that is not a record raises `CorruptRecords` naming it.
        """
        return list(self._iter_records())

    def _iter_records(self) -> Iterator[TrialRecord]:
        self._catch_up()
        return iter(list(self._read))

    def _catch_up(self) -> None:
        """Read the complete records appended since the last read (all of them if the file was
        replaced or cut); stop before a torn last line."""
        try:
            info = os.stat(self.trials_path)
        except FileNotFoundError:
            info = None
        if info is None or info.st_ino != self._inode or info.st_size < self._offset:
            self._read, self._offset = [], 0
            self._inode = info.st_ino if info else None
        if info is None or info.st_size == self._offset:
            return
        with open(self.trials_path, "rb") as handle:
            handle.seek(self._offset)
            # A line at a time within the limit: a hostile file's one huge line is refused unread.
            for raw in iter(lambda: handle.readline(MAX_FILE_BYTES + 1), b""):
                where = f"{self.trials_path}:{len(self._read) + 1}"
                if len(raw) > MAX_FILE_BYTES:
                    raise CorruptRecords(f"{where}: a line longer than {MAX_FILE_BYTES} bytes, not a trial record")
                if not raw.endswith(b"\n"):
                    break  # torn write of a killed driver
                try:
                    record = TrialRecord.from_json(parse_json(decode(raw, where), where))
                except InputError as err:
                    raise CorruptRecords(f"{err}; not a trial record") from None
                except (RecordError, TypeError) as err:
                    raise CorruptRecords(f"{where}: not a trial record ({err})") from None
                self._read.append(record)
                self._offset += len(raw)

    def latest(self) -> list[TrialRecord]:
        """The latest record of each (point, seed), in the order first written: a trial continued
        after a promotion supersedes its stopped record."""
        return list(self.finished().values())

    def finished(self) -> dict[tuple[str, int | None], TrialRecord]:
        """The latest record per (point id, seed) that a failure of the machine did not interrupt:
        what a resumed campaign must not train again (a promoted trial that was interrupted keeps
        its record from before the promotion)."""
        return {record.unit: record for record in self._iter_records() if record.status != INTERRUPTED}

    def interrupted(self) -> list[TrialRecord]:
        """The records of units whose latest trial a failure of the machine ended: to train again."""
        latest = {record.unit: record for record in self._iter_records()}
        return [record for record in latest.values() if record.status == INTERRUPTED]


def _append_line(path: Path, data: Any) -> None:
    """Append ``data`` as one JSON line: one write on an O_APPEND file, then fsync."""
    line = (json.dumps(data, sort_keys=True, default=_jsonable) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically: readers see the old file or the whole new one, never a part."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
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


def open_campaign(directory: str | Path) -> tuple[CampaignStore, dict[str, Any], Any, list[TrialRecord]]:
    """A campaign directory for an analysis command: its store, settings, space and latest records;
    `UserError` (one line) when it is not a readable campaign or its spec is broken."""
    from gespace.errors import UserError
    from gespace.grammar import SpecError, load_space

    try:
        store = CampaignStore(directory)
        return store, store.settings(), load_space(str(store.spec_path)), store.latest()
    except (StoreError, SpecError) as error:
        raise UserError(str(error)) from None

"""Per-epoch checkpoints: written atomically, loadable with ``weights_only=True``.

A checkpoint holds only tensors and primitive containers: model weights,
optimiser and schedule state, the epoch count, the point, the spec hash,
the metrics history, the data spec and every RNG state (Python's and
NumPy's converted to tensors).
"""
from __future__ import annotations

import io
import os
import pickletools
import random
import re
import stat
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gespace.errors import CheckpointError

FORMAT = 1
# What torch.save's pickles name besides torch's own tensor and storage rebuilders.
DATA_GLOBALS = ("collections.OrderedDict", "_codecs.encode")
_SCAN_BYTES = 64 << 20  # a checkpoint's pickle is small (the tensors' bytes are stored beside it)
_LEGACY_PICKLES = 5  # torch's pre-zip format: magic, protocol, sys info, the object, storage keys
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def rng_state() -> dict[str, Any]:
    version, state, gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_initialized() else [],
        "python": {"version": version, "state": torch.tensor(state, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"kind": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                  "cached_gaussian": float(np_state[4])},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))


def to_primitive(value: Any) -> Any:
    """``value`` with tuples/lists/dicts kept and anything exotic turned into a string."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(to_primitive(v) for v in value)
    if isinstance(value, dict):
        return {str(k): to_primitive(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The contents of a gespace checkpoint; ``CheckpointError`` names the file and what is wrong.

    Nothing in the file runs: its pickles are first read as opcodes (``pickletools``), and one
    that names anything but torch's rebuilders and plain containers is refused; then
    ``torch.load(weights_only=True)`` unpickles with torch's own allowlist.
    """
    name = os.fspath(path)
    try:
        info = os.stat(name)
        if stat.S_ISDIR(info.st_mode):
            raise CheckpointError(f"{name}: a directory, not a checkpoint file")
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{name}: not a regular file")
        if info.st_size == 0:
            raise CheckpointError(f"{name}: not a gespace checkpoint (an empty file)")
        with open(name, "rb") as handle:
            head = handle.read(8)
        code = [ref for ref in pickle_globals(name) if not _is_data(ref)]
    except OSError as err:
        raise CheckpointError(f"{name}: cannot read checkpoint: {err.strerror or err}") from None
    if code:
        raise _refused(name, code[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. on an unusual pickle protocol: stderr gets one line
            checkpoint = torch.load(name, map_location=map_location, weights_only=True)
    except Exception as err:  # a corrupt file makes torch.load raise anything: OSError, EOFError, ...
        blocked = re.search(r"GLOBAL ([\w.]+)", str(err))
        if blocked:
            raise _refused(name, blocked.group(1)) from None
        raise CheckpointError(f"{name}: not a gespace checkpoint ({_unreadable(head, err)})") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{name}: not a gespace checkpoint (a PyTorch file holding a "
                              f"{type(checkpoint).__name__}, not gespace's dict)")
    if checkpoint.get("format") != FORMAT:
        found = (f"format {checkpoint['format']!r}" if "format" in checkpoint
                 else "a dict without gespace's 'format' key")
        raise CheckpointError(f"{name}: not a gespace checkpoint ({found}; this gespace reads format "
                              f"{FORMAT})")
    if not isinstance(checkpoint.get("model"), dict):
        raise CheckpointError(f"{name}: not a gespace checkpoint (format {FORMAT} but no model weights)")
    return checkpoint


def _is_data(ref: str) -> bool:
    return ref.split(".", 1)[0] == "torch" or ref in DATA_GLOBALS


def _refused(name: str, ref: str) -> CheckpointError:
    return CheckpointError(f"{name}: refused: the checkpoint's pickle references code ({ref}); "
                           "gespace checkpoints hold only tensors and plain values")


def _unreadable(head: bytes, err: Exception) -> str:
    """Why torch could not read a file that starts with ``head``, in a few words."""
    text = str(err).strip()
    detail = re.search(r"WeightsUnpickler error:\s*(\S.*)", text)
    reason = (detail.group(1) if detail else text.splitlines()[0] if text else "") or type(err).__name__
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):  # torch's zip, or a bare pickle
        return f"truncated or corrupt: {reason.split('. ')[0][:200]}"
    return f"not a PyTorch file; it starts with {head!r}"


def pickle_globals(path: str | os.PathLike) -> list[str]:
    """Every global (``module.name``) the pickles in a torch file name, read without running them."""
    with open(path, "rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pickletools warns on odd string escapes in foreign bytes
        if not zipfile.is_zipfile(handle):
            handle.seek(0)
            return _globals(handle.read(_SCAN_BYTES), _LEGACY_PICKLES)
        try:
            with zipfile.ZipFile(handle) as archive:
                members = [m for m in archive.namelist() if m.endswith(".pkl")]
                return [ref for m in members for ref in _globals(archive.open(m).read(_SCAN_BYTES), 1)]
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError):
            return []  # an archive torch cannot open either: torch.load reports it


def _globals(data: bytes, pickles: int) -> list[str]:
    """Globals named by the first ``pickles`` pickles of ``data``; a parse error ends the scan.

    Names that are no dotted identifiers (random bytes that happen to parse) are left out:
    torch's allowlist still refuses whatever this scan cannot name.
    """
    found: list[str] = []
    stream = io.BytesIO(data)
    for _ in range(pickles):
        # STACK_GLOBAL takes module and name from the stack: track the strings pushed, and memo.
        operands: list[Any] = []
        memo: dict[int, Any] = {}
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                kind = opcode.name
                if kind in ("GLOBAL", "INST"):
                    module, _, attribute = str(arg).partition(" ")
                    # Protocols 0-2 spell builtins Python 2's way; name it as Python 3 does.
                    found.append(f"{'builtins' if module == '__builtin__' else module}.{attribute}")
                elif kind == "STACK_GLOBAL":
                    found.append(".".join(str(part) for part in operands[-2:]))
                elif kind == "MEMOIZE":
                    memo[len(memo)] = operands[-1] if operands else None
                elif kind in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[arg] = operands[-1] if operands else None
                elif kind in ("GET", "BINGET", "LONG_BINGET"):
                    operands.append(memo.get(arg))
                elif kind not in ("PROTO", "FRAME"):
                    operands.append(arg if isinstance(arg, str) else None)
        except Exception:  # genops raises ValueError and friends at the first byte that is no opcode
            break
        if stream.tell() >= len(data):
            break
    return [name for name in found if _DOTTED.fullmatch(name)]

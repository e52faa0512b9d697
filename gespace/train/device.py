"""Where training runs and how: CUDA with bf16 autocast and channels_last, or CPU threads."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DeviceSetup:
    device: torch.device
    amp: bool               # bf16 autocast (CUDA only)
    channels_last: bool     # NHWC activations (CUDA only: a CPU channels_last backward corrupted the heap)
    threads: int | None     # CPU intra-op threads set

    def autocast(self):
        if self.amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def setup_device(device: str | torch.device = "auto", *, threads: int | None = None,
                 amp: bool | None = None) -> DeviceSetup:
    """Resolve ``auto`` (CUDA when present) and configure the backend for training.

    On CPU, intra-op threads are ``threads``, else ``$GESPACE_THREADS``, else
    every core this process may use. (On a CPU shared with other busy
    processes fewer threads can be much faster: OpenMP threads wait for each
    other at every op.)
    """
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' asked for, but no CUDA device is available")
        if device.index is not None:
            torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        use_amp = torch.cuda.is_bf16_supported() if amp is None else amp
        return DeviceSetup(device, use_amp, True, None)
    n = threads or int(os.environ.get("GESPACE_THREADS") or 0) or cpu_count()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return DeviceSetup(device, False, False, n)

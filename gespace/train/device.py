"""Where training runs and how: CUDA with bf16 autocast, channels_last, CPU threads."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DeviceSetup:
    device: torch.device
    amp: bool               # bf16 autocast (CUDA only)
    channels_last: bool     # NHWC activations and weights
    threads: int | None     # CPU intra-op threads set

    def autocast(self):
        if self.amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, model: nn.Module) -> "DeviceSetup":
        """Move ``model`` to the device (NHWC where that is safe); the setup it runs under."""
        model.to(self.device)
        setup = self
        if self.channels_last and self.device.type == "cpu" and cpu_channels_last_hazards(model):
            setup = dataclasses.replace(self, channels_last=False)
        if setup.channels_last:
            model.to(memory_format=torch.channels_last)
        return setup


def cpu_channels_last_hazards(model: nn.Module) -> list[str]:
    """Convs whose CPU channels_last weight gradient writes out of bounds (torch 2.14, oneDNN).

    A 1x1 strided dense conv with 2-7 input channels corrupts the heap in its
    backward on an even-sized NHWC input (found with MALLOC_CHECK_=3 on tiny
    CIFAR ResNets' projection shortcuts); models holding one train in NCHW.
    """
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1)
            and m.groups == 1 and 1 < m.in_channels < 8]


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
    # NHWC trains 6-26% faster on the CPU too (oneDNN's blocked kernels); see prepare().
    return DeviceSetup(device, False, True, n)

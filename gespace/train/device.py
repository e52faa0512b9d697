"""Where training runs and how: the device, its precision (bf16 autocast or fp32), channels_last,
CPU threads."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import platform
from dataclasses import dataclass

import torch
from torch import nn

from gespace.backbones.common import STRIDED_1X1_MIN_CHANNELS
from gespace.vocab import PRECISIONS


@dataclass(frozen=True)
class DeviceSetup:
    device: torch.device
    precision: str          # 'bf16' (autocast) or 'fp32': train.precision resolved for the device
    channels_last: bool     # NHWC activations and weights
    threads: int | None     # CPU intra-op threads set

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
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

    A strided 1x1 dense conv with fewer than 16 input channels (one AVX-512
    register of fp32) corrupts the heap in its multi-threaded NHWC weight
    gradient (MALLOC_CHECK_=3 aborts with 2 threads, not with 1). Models holding
    one train in NCHW; gespace's backbones build such convs as
    ``SubsampledConv2d``, a stride-1 conv on the subsampled input, which is safe.
    """
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1)
            and m.groups == 1 and m.in_channels < STRIDED_1X1_MIN_CHANNELS]


@functools.cache
def _cpuinfo(field: str) -> str | None:
    """The first ``field`` of /proc/cpuinfo (what lscpu reads); None where there is none."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith(field)), None)
    except OSError:  # not Linux
        return None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (x86 AVX512_BF16 or AMX-BF16 in /proc/cpuinfo's
    flags). Elsewhere oneDNN emulates bf16, slower than fp32."""
    flags = (_cpuinfo("flags") or "").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_name() -> str:
    """The CPU's model name, as lscpu gives it."""
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_description() -> str:
    """The CPU's model and its widest vector ISA (AVX-512 with AVX512_BF16, or AVX2), for benchmarks."""
    flags = (_cpuinfo("flags") or "").split()
    isa = ("AVX-512 with AVX512_BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags
           else "AVX2" if "avx2" in flags else "no AVX2")
    return f"{cpu_name()}, {isa}"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``train.precision`` for ``device``: 'auto' becomes 'bf16' where the device has native
    bf16 (a CUDA GPU that supports it, a CPU with AVX512_BF16 or AMX), else 'fp32'."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    else:
        native = device.type == "cpu" and cpu_has_native_bf16()
    return "bf16" if native else "fp32"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def setup_device(device: str | torch.device = "auto", *, threads: int | None = None,
                 precision: str = "auto") -> DeviceSetup:
    """Resolve ``auto`` (CUDA when present) and configure the backend for training.

    ``precision`` is ``train.precision`` (see ``resolve_precision``). On CPU,
    intra-op threads are ``threads``, else ``$GESPACE_THREADS``, else every core
    this process may use. (On a CPU shared with other busy processes fewer
    threads can be much faster: OpenMP threads wait for each other at every op.)
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
        return DeviceSetup(device, resolve_precision(precision, device), True, None)
    n = threads or int(os.environ.get("GESPACE_THREADS") or 0) or cpu_count()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    # NHWC trains 6-26% faster on the CPU too (oneDNN's blocked kernels); see prepare().
    return DeviceSetup(device, resolve_precision(precision, device), True, n)

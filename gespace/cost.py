"""What a network or a point costs: MACs, parameters, activations, per stage and per op type.

Counting is fvcore's (one JIT trace, one handle per aten op). fvcore's default handles
are kept for convs, linear layers and BatchNorm; handles are added for the ops it skips
(pooling, mean, sigmoid / hard sigmoid, elementwise add / mul, resizing, ReLU), so that a
GE block's own work shows in ``Cost.by_op`` and in the per-stage ``ge_*`` columns.

The headline ``Cost.macs`` follows the paper's "GFLOPs" columns: multiply-accumulates of
convolutions and linear layers with BatchNorm folded into them (``include_bn=True`` adds
fvcore's one op per BN output element), plus one per element of elementwise products (the
excite's ``x * gate``). Pooling, gates, resizing, ReLU and additions are not in it. This is
the one convention that reproduces every row of Tables 1-3 (Caffe-style ResNets):

- ResNet-50: convs + fc = 3.858 G; the 16 excite products add 5.5 M, SE's fc layers 2.5 M,
  GE-θ's global depth-wise convs 5.5 M. Then GE-θ⁻ 3.864 -> 3.86, SE 3.866 -> 3.87,
  GE-θ 3.869 -> 3.87, GE-θ⁺ 3.872 -> 3.87, GE-θ on one stage <= 3.863 -> 3.86, as printed.
  Without the products SE and GE-θ would read 3.86; with GE-θ⁻'s pooling too, GE-θ⁻ 3.87.
- ResNet-101 (7.570 G): GE-θ⁻ 7.579, SE 7.584, GE-θ 7.588, GE-θ⁺ 7.593 -> 7.58/7.58/7.59/7.59.

``point_cost`` composes a point's cost from cached parts (the bare backbone, once per
backbone configuration, and each distinct GE block, once per channels / feature size /
block arguments); the result equals ``count_cost`` of the built model exactly.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import itertools
import statistics
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Any, Iterable

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # fvcore's import-time torch.jit.script
    from fvcore.nn import parameter_count
    from fvcore.nn.jit_analysis import JitModelAnalysis
    from fvcore.nn.jit_handles import (addmm_flop_jit, batchnorm_flop_jit, bmm_flop_jit, conv_flop_jit,
                                       einsum_flop_jit, get_shape, linear_flop_jit, matmul_flop_jit)

if TYPE_CHECKING:
    from gespace.train.device import DeviceSetup

Point = dict[str, Any]
ACTIVATIONS = "activations"  # a pseudo-op in the tallies: outputs of conv / linear ops (fvcore's)
HEADLINE_OPS = ("conv", "linear", "mul")


# --- op handles -------------------------------------------------------------------------------
def _numel(value: Any) -> int:
    shape = get_shape(value)
    return prod(shape) if shape else 0


def _dense(category: str, flop_handle: Any) -> Any:
    """A conv / linear op: its MACs (fvcore's handle) and its output size as activations."""
    def handle(inputs: list, outputs: list) -> Counter:
        macs = flop_handle(inputs, outputs)
        macs = sum(macs.values()) if isinstance(macs, Counter) else macs
        return Counter({category: int(macs), ACTIVATIONS: _numel(outputs[0])})
    return handle


def _per_element(category: str, of_input: bool = False, scale: int = 1) -> Any:
    """``scale`` ops per output element (or per input element: reductions)."""
    def handle(inputs: list, outputs: list) -> Counter:
        return Counter({category: scale * _numel(inputs[0] if of_input else outputs[0])})
    return handle


def _int_list(value: Any) -> list[int]:
    constant = value.toIValue()  # None where the trace builds the list (prim::ListConstruct)
    return list(constant) if constant is not None else [v.toIValue() for v in value.node().inputs()]


def _windowed_pool(inputs: list, outputs: list) -> Counter:
    """avg / max pool: one op per output element and window position."""
    kernel = _int_list(inputs[1])
    kernel = kernel * 2 if len(kernel) == 1 else kernel
    return Counter({"pool": _numel(outputs[0]) * prod(kernel)})


def _fused_avg_sigmoid_gate(inputs: list, outputs: list) -> Counter:
    """gespace.ops' fused GE-θ⁻ (an autograd Function, opaque to the trace), counted as the
    composition it computes: average pool, sigmoid at the gathered size, excite product."""
    n, c, h, w = get_shape(outputs[0])
    extent = outputs[0].node().scalar_args()[0]
    if extent == "global":
        return Counter({"pool": n * c * h * w, "sigmoid": n * c, "mul": n * c * h * w})
    cells = n * c * -(-h // extent) * -(-w // extent)
    return Counter({"pool": cells * (2 * extent - 1) ** 2, "sigmoid": cells, "mul": n * c * h * w})


def _bn(inputs: list, outputs: list) -> Counter:
    return Counter({"bn": int(batchnorm_flop_jit(inputs, outputs))})


def _handles() -> dict[str, Any]:
    handles: dict[str, Any] = {
        "aten::_convolution": _dense("conv", conv_flop_jit),
        "aten::addmm": _dense("linear", addmm_flop_jit),
        "aten::linear": _dense("linear", linear_flop_jit),
        "aten::matmul": _dense("linear", matmul_flop_jit),
        "aten::mm": _dense("linear", matmul_flop_jit),
        "aten::bmm": _dense("linear", bmm_flop_jit),
        "aten::einsum": _dense("linear", einsum_flop_jit),
        "aten::batch_norm": _bn,
        "aten::avg_pool2d": _windowed_pool,
        "aten::max_pool2d": _windowed_pool,
        "aten::adaptive_avg_pool2d": _per_element("pool", of_input=True),
        "aten::adaptive_max_pool2d": _per_element("pool", of_input=True),
        "aten::mean": _per_element("pool", of_input=True),
        "aten::amax": _per_element("pool", of_input=True),
        "aten::upsample_nearest2d": _per_element("upsample"),
        "aten::upsample_bilinear2d": _per_element("upsample", scale=4),  # 4 taps per output
        "prim::PythonOp._AvgSigmoidGate": _fused_avg_sigmoid_gate,
        # Permutations cost nothing.
        "aten::channel_shuffle": None,
        "aten::native_channel_shuffle": None,
        "aten::pixel_shuffle": None,
    }
    for op, category in (("sigmoid", "sigmoid"), ("hardsigmoid", "hardsigmoid"), ("relu", "relu"),
                         ("add", "add"), ("sub", "add"), ("mul", "mul"), ("div", "div")):
        handles[f"aten::{op}"] = handles[f"aten::{op}_"] = _per_element(category)
    return handles


HANDLES = _handles()


# --- tallies and costs ------------------------------------------------------------------------
@dataclass
class Tally:
    """Raw counts of one part of a network: all ops (incl. GE's) and the GE blocks' share."""

    ops: Counter = field(default_factory=Counter)
    params: int = 0
    ge_ops: Counter = field(default_factory=Counter)
    ge_params: int = 0
    uncounted: Counter = field(default_factory=Counter)

    def add(self, other: Tally, *, as_ge: bool = False) -> None:
        self.ops += other.ops
        self.params += other.params
        self.ge_ops += other.ops if as_ge else other.ge_ops
        self.ge_params += other.params if as_ge else other.ge_params
        self.uncounted += other.uncounted

    def copy(self) -> Tally:
        return Tally(Counter(self.ops), self.params, Counter(self.ge_ops), self.ge_params,
                     Counter(self.uncounted))


def headline(ops: Counter, include_bn: bool = False) -> int:
    """The paper-convention MACs of an op tally (see the module docstring)."""
    return sum(ops[op] for op in HEADLINE_OPS) + (ops["bn"] if include_bn else 0)


@dataclass(frozen=True)
class Cost:
    """Cost at batch 1. ``macs`` is the paper's convention; ``by_op`` has every counted op
    (fvcore categories, whole network); ``by_stage`` maps 'stem', 'stage2', ..., 'head' to
    macs / params / activations and the GE blocks' share of them (ge_macs, ge_params).
    Costs are cached and shared: treat them as read-only (``to_dict`` gives copies)."""

    macs: int
    params: int
    activations: int
    ge_macs: int
    ge_params: int
    by_op: dict[str, int]
    by_stage: dict[str, dict[str, int]]
    include_bn: bool = False
    uncounted: dict[str, int] = field(default_factory=dict)  # aten ops without a handle

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @classmethod
    def from_parts(cls, parts: dict[str, Tally], include_bn: bool = False) -> Cost:
        total = Tally()
        for tally in parts.values():
            total.add(tally)
        by_stage = {name: {"macs": headline(t.ops, include_bn), "params": t.params,
                           "activations": t.ops[ACTIVATIONS], "ge_macs": headline(t.ge_ops, include_bn),
                           "ge_params": t.ge_params} for name, t in parts.items()}
        by_op = {op: n for op, n in sorted(total.ops.items()) if op != ACTIVATIONS and n}
        return cls(headline(total.ops, include_bn), total.params, total.ops[ACTIVATIONS],
                   headline(total.ge_ops, include_bn), total.ge_params, by_op, by_stage, include_bn,
                   dict(total.uncounted))

    def to_dict(self) -> dict[str, Any]:
        return {"macs": self.macs, "gmacs": round(self.gmacs, 6), "params": self.params,
                "params_m": round(self.params_m, 6), "activations": self.activations,
                "ge_macs": self.ge_macs, "ge_params": self.ge_params, "include_bn": self.include_bn,
                "by_stage": {name: dict(part) for name, part in self.by_stage.items()},
                "by_op": dict(self.by_op)}


def _trace_counts(model: nn.Module, shape: tuple[int, ...]) -> tuple[dict[str, Counter], Counter]:
    """fvcore op tallies of every submodule for one batch-1 input; and the unhandled ops."""
    was_training, threads = model.training, torch.get_num_threads()
    device = next(itertools.chain(model.parameters(), model.buffers()), torch.empty(0)).device
    model.eval()  # BN's inference form (the one folded into convs)
    # The trace runs the ops only for their shapes: one thread avoids OpenMP spinning,
    # which on a busy 2-core machine made tracing ~10x slower.
    torch.set_num_threads(1)
    try:
        analysis = JitModelAnalysis(model, (torch.zeros(shape, device=device),))
        analysis.set_op_handle(**HANDLES)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit's deprecation notice
            counts = analysis.by_module_and_operator()
            uncounted = Counter(analysis.unsupported_ops())
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)
    return counts, uncounted


def _ge_names(model: nn.Module) -> list[str]:
    """Names of the GE blocks the backbones hold as ``<block>.ge`` (outermost only)."""
    names = [name for name, module in model.named_modules() if name.rsplit(".", 1)[-1] == "ge"]
    return [n for n in names if not any(n.startswith(other + ".") for other in names)]


def tally_parts(model: nn.Module, shape: tuple[int, ...]) -> dict[str, Tally]:
    """Tallies per top-level child of ``model`` (a backbone's stem, stage2, ..., head)."""
    counts, uncounted = _trace_counts(model, shape)
    params = parameter_count(model)
    ge_names = _ge_names(model)
    parts: dict[str, Tally] = {}
    children = [name for name, _ in model.named_children()]
    for name in children:
        ge_in = [g for g in ge_names if g.startswith(name + ".")]
        parts[name] = Tally(Counter(counts.get(name, Counter())), params.get(name, 0),
                            sum((Counter(counts.get(g, Counter())) for g in ge_in), Counter()),
                            sum(params.get(g, 0) for g in ge_in))
    rest = Tally(Counter(counts[""]), params[""])
    for tally in parts.values():
        rest.ops -= tally.ops
        rest.params -= tally.params
    if not children or +rest.ops or rest.params:
        parts["other"] = rest
    parts[next(iter(parts))].uncounted = uncounted  # the whole model's, kept once
    return parts


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def count_cost(model: nn.Module, image_size: int | tuple[int, int], in_channels: int, *,
               include_bn: bool = False) -> Cost:
    """Cost of ``model`` on one ``in_channels`` x ``image_size`` image (fvcore trace)."""
    return Cost.from_parts(tally_parts(model, (1, in_channels, *_pair(image_size))), include_bn)


# --- points -----------------------------------------------------------------------------------
BlockCall = tuple[int, int, tuple[int, int]]
_MODULE_TALLIES: dict[tuple, Tally] = {}


def _frozen(items: Iterable[tuple[str, Any]]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in items))


def _module_tally(module: nn.Module, shape: tuple[int, ...]) -> Tally:
    """Tally of one meta-built module on a ``shape`` input, cached by its structure (class and
    repr: every layer's configuration) and that shape. Depths and stages share blocks."""
    key = (type(module).__qualname__, repr(module), shape)
    if key not in _MODULE_TALLIES:
        real = copy.deepcopy(module).to_empty(device="cpu")  # counts need shapes, not values
        with torch.no_grad():
            for tensor in itertools.chain(real.parameters(), real.buffers()):
                tensor.zero_()
        total = Tally()
        for tally in tally_parts(real, shape).values():
            total.add(tally)
        _MODULE_TALLIES[key] = total
    return _MODULE_TALLIES[key]


@functools.lru_cache(maxsize=None)
def _backbone_tally(arch: str, kwargs: tuple) -> tuple[dict[str, Tally], tuple[BlockCall, ...]]:
    """The bare backbone's tallies per part, and every block_fn call (stage, channels, size).

    Built on the meta device; a meta forward gives each part's input shape; then stem,
    blocks and head are traced one by one (cached), which sums exactly to the whole trace
    because a Backbone's own forward has no ops of its own.
    """
    from gespace.backbones import BACKBONES

    calls: list[BlockCall] = []
    build = BACKBONES[arch]
    with torch.device("meta"):
        model = build(block_fn=lambda *call: calls.append(call), **dict(kwargs)).eval()
    args = {**{k: p.default for k, p in inspect.signature(build).parameters.items()}, **dict(kwargs)}
    members = [("stem", model.stem), *[(f"stage{stage}", block) for stage in model.stage_ids
                                       for block in getattr(model, f"stage{stage}")], ("head", model.head)]
    shapes: dict[int, tuple[int, ...]] = {}
    hooks = [module.register_forward_pre_hook(
        lambda mod, inputs: shapes.__setitem__(id(mod), tuple(inputs[0].shape))) for _, module in members]
    with torch.no_grad():
        model(torch.empty(1, args["in_channels"], *_pair(args["image_size"]), device="meta"))
    for hook in hooks:
        hook.remove()
    parts: dict[str, Tally] = {}
    for name, module in members:
        parts.setdefault(name, Tally()).add(_module_tally(module, shapes[id(module)]))
    return parts, tuple(calls)


@functools.lru_cache(maxsize=None)
def _block_tally(channels: int, size: tuple[int, int], block_args: tuple) -> Tally:
    from gespace.ops import create_block

    with torch.random.fork_rng(devices=[]):
        block = create_block("ge", channels, feature_size=size, **dict(block_args))
    total = Tally()
    for tally in tally_parts(block, (1, channels, *size)).values():
        total.add(tally)
    return total


@functools.lru_cache(maxsize=4096)
def _composed(arch: str, kwargs: tuple, stages: tuple[int, ...], block_args: tuple,
              include_bn: bool) -> Cost:
    base, calls = _backbone_tally(arch, kwargs)
    unknown = set(stages) - {stage for stage, _, _ in calls}
    if unknown:
        raise ValueError(f"{arch} has no stage(s) {sorted(unknown)}")
    parts = {name: tally.copy() for name, tally in base.items()}
    for stage, channels, size in calls:
        if stage in stages:
            parts[f"stage{stage}"].add(_block_tally(channels, size, block_args), as_ge=True)
    return Cost.from_parts(parts, include_bn)


def point_cost(point: Point, *, include_bn: bool = False) -> Cost:
    """Cost of the network ``build_model(point)`` builds, composed from cached parts."""
    from gespace.builder import BuildError, backbone_kwargs, ge_kwargs

    kwargs = _frozen(backbone_kwargs(point).items())
    stages = tuple(sorted(set(point.get("ge.placement.stages", ()))))
    block_args = _frozen(ge_kwargs(point).items()) if stages else ()
    try:
        return _composed(point["backbone.arch"], kwargs, stages, block_args, include_bn)
    except (ValueError, TypeError) as err:
        from gespace.grammar import point_id

        raise BuildError(f"point {point_id(point)}: {err}") from err


def cache_info() -> dict[str, int]:
    """Entries per cache: backbones, backbone parts, GE blocks, composed point costs."""
    return {"backbones": _backbone_tally.cache_info().currsize, "parts": len(_MODULE_TALLIES),
            "ge_blocks": _block_tally.cache_info().currsize, "points": _composed.cache_info().currsize}


def clear_cache() -> None:
    """Forget every cached tally (e.g. after gespace.ops changed)."""
    _MODULE_TALLIES.clear()
    for cached in (_backbone_tally, _block_tally, _composed):
        cached.cache_clear()


# --- latency ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    """Median forward time (inference mode) at batch 1 and at a training batch."""

    device: str
    batch1_ms: float
    train_batch: int
    train_batch_ms: float


def latency(model: nn.Module, image_size: int | tuple[int, int], in_channels: int, *,
            train_batch: int = 64, repeats: int = 10, warmup: int = 2,
            device: str | torch.device | None = None, setup: DeviceSetup | None = None) -> Latency:
    """Time ``model`` on the device at hand (CUDA if available, else CPU), or as a trainer under
    ``setup`` evaluates it: on its device, in its precision (autocast) and memory format. The
    model is put back on its own device, in its own mode and in the default memory format."""
    if setup is not None:
        device = setup.device
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    first = next(model.parameters(), None)
    home, was_training = (first.device if first is not None else torch.device("cpu")), model.training
    model.to(device).eval()
    if setup is not None:
        setup = setup.prepare(model)  # the trainer's rule: NCHW where NHWC is unsafe
    channels_last = setup is not None and setup.channels_last
    autocast = setup.autocast if setup is not None else contextlib.nullcontext

    def median_ms(batch: int) -> float:
        x = torch.randn(batch, in_channels, *_pair(image_size), device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        times = []
        with torch.inference_mode(), autocast():
            for i in range(warmup + repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    try:
        return Latency(str(device), median_ms(1), train_batch, median_ms(train_batch))
    finally:
        model.to(home).train(was_training)
        if channels_last:
            model.to(memory_format=torch.contiguous_format)

"""The knob vocabulary: every key a spec may set, its type, default and meaning.

This is the one place that says what the builder, the trainer and the grammar
accept. The grammar validates specs against it, the builder and trainer read
points whose keys are exactly these, and ``docs`` (``gespace space keys``)
prints it. Importing it must stay cheap (no torch).

A knob may carry ``active_when``: a condition, in the grammar's condition
language, under which the knob matters at all. The grammar ANDs it with the
spec's own ``when`` so that, for example, a pooling type never distinguishes
two points whose gather is a depth-wise convolution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

ARCHS = ("resnet", "cifar_resnet", "preact_resnet", "wrn", "shufflenet")

# Stages are numbered as in He et al. (conv2_x ... conv5_x), WRN and ShuffleNet:
# the first residual stage is stage 2.
ARCH_STAGES: dict[str, tuple[int, ...]] = {
    "resnet": (2, 3, 4, 5),
    "cifar_resnet": (2, 3, 4),
    "preact_resnet": (2, 3, 4),
    "wrn": (2, 3, 4),
    "shufflenet": (2, 3, 4),
}

# Defaults that depend on the architecture (ImageNet-style vs CIFAR-style).
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "resnet": {"backbone.depth": 50, "backbone.image_size": 224, "backbone.num_classes": 1000},
    "cifar_resnet": {"backbone.depth": 110, "backbone.image_size": 32, "backbone.num_classes": 10},
    "preact_resnet": {"backbone.depth": 164, "backbone.image_size": 32, "backbone.num_classes": 10},
    "wrn": {"backbone.depth": 16, "backbone.image_size": 32, "backbone.num_classes": 10},
    "shufflenet": {"backbone.image_size": 224, "backbone.num_classes": 1000},
}

RESNET_DEPTHS = (18, 34, 50, 101, 152)
# The depths each family can have (a test, and how to say it): the grammar and the backbones check these.
DEPTH_RULES: dict[str, tuple[Callable[[int], bool], str]] = {
    "resnet": (lambda d: d in RESNET_DEPTHS, "one of " + ", ".join(map(str, RESNET_DEPTHS))),
    "cifar_resnet": (lambda d: d >= 8 and (d - 2) % 6 == 0, "6n+2 (20, 56, 110, ...)"),
    "preact_resnet": (lambda d: d >= 11 and (d - 2) % 9 == 0, "9n+2 (29, 164, ...)"),
    "wrn": (lambda d: d >= 10 and (d - 4) % 6 == 0, "6n+4 (16, 28, 40, ...)"),
}
# ShuffleNet v1 (Zhang et al. 2018, Table 1): stage 2's output channels at 1x for each group count g.
SHUFFLENET_STAGE2_WIDTHS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
SHUFFLENET_SCALES = (0.25, 0.5, 1.0, 1.5, 2.0)
EXTENTS = (2, 4, 8, "global")
DATASETS = ("fashion-mnist", "cifar10", "cifar100", "imagefolder", "synthetic")
PRECISIONS = ("auto", "fp32", "bf16")

HAS_GE = "ge.placement.stages != []"


@dataclass(frozen=True)
class Knob:
    """One settable key. ``kind`` is enum | int | float | bool | stages | floats."""

    kind: str
    doc: str
    default: Any = None
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    active_when: str | None = None
    # The default depends on backbone.arch (see ARCH_DEFAULTS).
    arch_default: bool = False


KNOBS: dict[str, Knob] = {
    # --- backbone -------------------------------------------------------------
    "backbone.arch": Knob("enum", "Backbone family.", "cifar_resnet", ARCHS),
    "backbone.depth": Knob(
        "int", "Layers: ResNet 18/34/50/101/152, CIFAR ResNet 6n+2, pre-act ResNet 9n+2, WRN 6n+4.",
        low=8, high=1202, arch_default=True, active_when="backbone.arch != 'shufflenet'"),
    "backbone.style": Knob(
        "enum", "Where a ResNet stage's stride-2 sits: 'caffe' (first 1x1, the paper's count) or "
        "'torchvision' (the 3x3).", "caffe", ("caffe", "torchvision"),
        active_when="backbone.arch == 'resnet'"),
    "backbone.width": Knob(
        "int", "Channels of the first stage of CIFAR-style networks (16 in He et al. and WRN).", 16,
        low=1, high=1024, active_when="backbone.arch in ['cifar_resnet', 'preact_resnet', 'wrn']"),
    "backbone.widen": Knob("int", "WRN widening factor k (WRN-16-8: 8).", 8, low=1, high=32,
                           active_when="backbone.arch == 'wrn'"),
    "backbone.dropout": Knob("float", "WRN dropout between the two 3x3 convs of a block.", 0.0,
                             low=0.0, high=0.9, active_when="backbone.arch == 'wrn'"),
    "backbone.groups": Knob("enum", "ShuffleNet v1 group count g.", 3, tuple(SHUFFLENET_STAGE2_WIDTHS),
                            active_when="backbone.arch == 'shufflenet'"),
    "backbone.scale": Knob("enum", "ShuffleNet v1 width multiplier (the 'Nx').", 1.0,
                           SHUFFLENET_SCALES, active_when="backbone.arch == 'shufflenet'"),
    "backbone.in_channels": Knob("int", "Input image channels (1 for Fashion-MNIST).", 3, low=1, high=64),
    "backbone.image_size": Knob("int", "Input height = width in pixels.", low=8, high=1024,
                                arch_default=True),
    "backbone.num_classes": Knob("int", "Classifier outputs.", low=2, high=100000, arch_default=True),
    # --- GE block -------------------------------------------------------------
    "ge.placement.stages": Knob(
        "stages", "Stages whose every residual block gets a GE block (a list; [] is the baseline; "
        "'all' means every stage of the backbone).", ()),
    "ge.gather.op": Knob("enum", "Gather: parameter-free pooling ('pool') or depth-wise "
                         "convolutions ('dwconv', the paper's parametric gather).", "pool",
                         ("pool", "dwconv"), active_when=HAS_GE),
    "ge.gather.pool": Knob("enum", "Pooling of a parameter-free gather.", "avg", ("avg", "max"),
                           active_when=f"{HAS_GE} and ge.gather.op == 'pool'"),
    "ge.gather.extent": Knob("enum", "Extent ratio e: 2, 4, 8 (output ceil(H/e)) or 'global'.",
                             "global", EXTENTS, active_when=HAS_GE),
    "ge.gather.depth": Knob(
        "int", "Depth-wise convs of a parametric gather. e = 2, 4, 8: log2(e) stride-2 3x3 convs, "
        "then depth - log2(e) stride-1 ones; global: depth - 1 stride-2 3x3 convs, then one conv "
        "over the whole map. Unset means the minimum (log2(e), or 1).",
        None, low=1, high=8, active_when=f"{HAS_GE} and ge.gather.op == 'dwconv'"),
    "ge.excite.interp": Knob("enum", "How the gathered map is resized back to H x W.", "nearest",
                             ("nearest", "bilinear"),
                             active_when=f"{HAS_GE} and ge.gather.extent != 'global'"),
    "ge.excite.gate": Knob("enum", "Gating non-linearity.", "sigmoid", ("sigmoid", "hard_sigmoid"),
                           active_when=HAS_GE),
    "ge.excite.mlp": Knob("enum", "Excite subnet: none, or SE's 1x1 down / ReLU / 1x1 up.", "none",
                          ("none", "se"), active_when=HAS_GE),
    "ge.excite.reduction": Knob("int", "SE subnet reduction ratio r (channels C -> C/r -> C).", 16,
                                low=1, high=256, active_when=f"{HAS_GE} and ge.excite.mlp == 'se'"),
    # --- training -------------------------------------------------------------
    "train.dataset": Knob("enum", "Dataset the point is trained on.", "fashion-mnist", DATASETS),
    "train.epochs": Knob("int", "Training epochs.", 10, low=1, high=10000),
    "train.batch_size": Knob("int", "Minibatch size.", 128, low=1, high=65536),
    "train.lr": Knob("float", "Peak learning rate of SGD.", 0.1, low=1e-6, high=1e4),
    "train.momentum": Knob("float", "SGD momentum.", 0.9, low=0.0, high=0.999),
    "train.nesterov": Knob("bool", "Nesterov momentum.", False),
    "train.weight_decay": Knob("float", "L2 weight decay.", 5e-4, low=0.0, high=1.0),
    "train.no_wd_bn_bias": Knob("bool", "No weight decay on BatchNorm parameters and biases.", False),
    "train.schedule": Knob("enum", "LR schedule: step, on-plateau /10 (the paper's) or cosine.",
                           "cosine", ("step", "plateau", "cosine")),
    "train.milestones": Knob("floats", "Step schedule: fractions of the epochs at which the LR "
                             "is multiplied by gamma.", (0.5, 0.75),
                             active_when="train.schedule == 'step'"),
    "train.gamma": Knob("float", "LR factor of a step or plateau decay.", 0.1, low=1e-4, high=1.0,
                        active_when="train.schedule != 'cosine'"),
    "train.patience": Knob("int", "Plateau schedule: epochs without val improvement before a decay.",
                           2, low=0, high=1000, active_when="train.schedule == 'plateau'"),
    "train.warmup_epochs": Knob("int", "Linear warm-up epochs.", 0, low=0, high=1000),
    "train.label_smoothing": Knob("float", "Label smoothing of the cross-entropy.", 0.0,
                                  low=0.0, high=0.5),
    "train.pad": Knob("int", "Augmentation: zero padding before the random crop (0: no crop).", 4,
                      low=0, high=64),
    "train.flip": Knob("bool", "Augmentation: random horizontal flips.", True),
    "train.val_fraction": Knob("float", "Share of the training set held out for validation.", 0.1,
                               low=0.0, high=0.9),
    "train.subset": Knob("float", "Share of the (post-validation) training split trained on: a seeded "
                         "subset, the same for every point, a cheap proxy for quick searches.", 1.0,
                         low=0.001, high=1.0),
    "train.precision": Knob("enum", "Arithmetic of training and evaluation: 'fp32', 'bf16' (autocast: "
                            "convs and matmuls in bfloat16, weights and optimizer state in fp32) or "
                            "'auto' (bf16 where the device has native bf16: CUDA GPUs that support it, "
                            "CPUs with AVX512_BF16 or AMX; fp32 elsewhere).", "auto", PRECISIONS),
}

SECTIONS = ("backbone", "ge", "train")


def knob_default(key: str, arch: str | None) -> Any:
    """The default of ``key``, resolved for ``arch`` where it depends on it."""
    knob = KNOBS[key]
    if knob.arch_default:
        return ARCH_DEFAULTS.get(arch or "", {}).get(key)
    return knob.default


def point_problems(point: dict[str, Any]) -> list[tuple[str, str]]:
    """Reasons (key, message) why a complete canonical point cannot be built."""
    problems: list[tuple[str, str]] = []
    arch = point.get("backbone.arch")
    depth = point.get("backbone.depth")
    if arch in DEPTH_RULES and depth is not None:
        ok, expected = DEPTH_RULES[arch]
        if not ok(depth):
            problems.append(("backbone.depth", f"{arch} depth {depth} is not {expected}"))
    stages = point.get("ge.placement.stages", ())
    if arch in ARCH_STAGES:
        unknown = [s for s in stages if s not in ARCH_STAGES[arch]]
        if unknown:
            problems.append(("ge.placement.stages",
                             f"{arch} has stages {list(ARCH_STAGES[arch])}, not {unknown}"))
    gather_depth = point.get("ge.gather.depth")
    if gather_depth is not None:
        minimum = min_gather_depth(point["ge.gather.extent"])
        if gather_depth < minimum:
            problems.append(("ge.gather.depth", f"extent {point['ge.gather.extent']} needs at least "
                             f"{minimum} depth-wise conv(s), not {gather_depth}"))
    return problems


def check_depth(arch: str, depth: int) -> None:
    """ValueError unless backbone ``arch`` (one with a depth knob) can have ``depth`` layers."""
    ok, expected = DEPTH_RULES[arch]
    if not ok(depth):
        raise ValueError(f"{arch} depth must be {expected}, not {depth}")


def min_gather_depth(extent: int | str) -> int:
    """Stride-2 convs a parametric gather of this extent needs (1 for global)."""
    return 1 if extent == "global" else int(math.log2(extent))


# Knobs whose values decide validity or normalisation beyond `when` conditions:
# the grammar must branch on them when it counts points exactly.
VALIDITY_KNOBS = ("backbone.arch", "backbone.depth", "ge.placement.stages",
                  "ge.gather.extent", "ge.gather.depth")

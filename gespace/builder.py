"""Compile a canonical point into a PyTorch model: backbone + GE blocks where it says."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gespace.errors import BuildError
from gespace.vocab import ARCH_STAGES

__all__ = ["BuildError", "backbone_kwargs", "build_model", "ge_kwargs"]

Point = dict[str, Any]


def backbone_kwargs(point: Point) -> dict[str, Any]:
    """The backbone builder's keyword arguments: the point's ``backbone.*`` knobs."""
    return {key.split(".", 1)[1]: value for key, value in point.items()
            if key.startswith("backbone.") and key != "backbone.arch"}


def ge_kwargs(point: Point) -> dict[str, Any]:
    """GEBlock keyword arguments from the point's active ``ge.gather``/``ge.excite`` knobs."""
    names = {"ge.gather.op": "gather_op", "ge.gather.pool": "pool", "ge.gather.extent": "extent",
             "ge.gather.depth": "depth", "ge.excite.interp": "interp", "ge.excite.gate": "gate",
             "ge.excite.mlp": "mlp", "ge.excite.reduction": "reduction"}
    return {arg: point[key] for key, arg in names.items() if key in point}


def build_model(point: Point | str, *, space: Any = None, seed: int | None = 0) -> nn.Module:
    """Build the network of ``point`` (a canonical point, or an anchor name of ``space``).

    The returned module carries ``point`` and ``point_id`` attributes. With a
    seed, weights are initialised deterministically (the global RNG is restored).
    """
    from gespace.backbones import BACKBONES
    from gespace.ops import create_block
    from gespace.grammar import point_id

    if isinstance(point, str):
        if space is None:
            raise BuildError(f"anchor {point!r}: building an anchor by name needs its space")
        point = space.anchor(point)
    pid = point_id(point)
    arch = point["backbone.arch"]
    stages = set(point.get("ge.placement.stages", ()))
    unknown = stages - set(ARCH_STAGES[arch])
    if unknown:
        raise BuildError(f"point {pid}: {arch} has no stage(s) {sorted(unknown)} "
                         f"(it has {list(ARCH_STAGES[arch])})")
    block_args = ge_kwargs(point)

    def block_fn(stage: int, channels: int, feature_size: tuple[int, int]) -> nn.Module | None:
        if stage not in stages:
            return None
        return create_block("ge", channels, feature_size=feature_size, **block_args)

    fork = torch.random.fork_rng(enabled=seed is not None)
    with fork:
        if seed is not None:
            torch.manual_seed(seed)
        try:
            model = BACKBONES[arch](block_fn=block_fn, **backbone_kwargs(point))
        except (ValueError, TypeError) as err:
            raise BuildError(f"point {pid}: {err}") from err
    model.point = dict(point)
    model.point_id = pid
    return model

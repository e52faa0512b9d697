"""Gather operators (Hu et al. 2018, Sec. 2-3): aggregate each channel over a spatial extent.

An extent e in {2, 4, 8} maps H x W to ceil(H/e) x ceil(W/e), and output cell u
sees only the inputs iota(u, e) = {e*u + d : |d| <= e - 1} of its own channel
(for the minimal dwconv depth). 'global' maps to 1 x 1.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
import torch.nn.functional as F

from gespace.vocab import EXTENTS, min_gather_depth

Extent = int | str

GATHER_OPS = ("pool", "dwconv")
POOLS = ("avg", "max")


def pool_window(extent: int) -> tuple[int, int, int]:
    """(kernel, stride, padding) of the pooling gather: window 2e-1 centred on e*u.

    Output size floor((H + 2(e-1) - (2e-1)) / e) + 1 = ceil(H/e) for every H >= 1,
    so no ceil_mode is needed; padding e-1 <= kernel/2 as torch requires.
    """
    return 2 * extent - 1, extent, extent - 1


def reduced_size(size: tuple[int, int], halvings: int) -> tuple[int, int]:
    """Spatial size after ``halvings`` 3x3 stride-2 pad-1 convs (ceil(L/2) each)."""
    h, w = size
    for _ in range(halvings):
        h, w = -(-h // 2), -(-w // 2)
    return h, w


def _check_choice(name: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, not {value!r}")


def _dw_unit(channels: int, kernel: int | tuple[int, int], stride: int, padding: int) -> list[nn.Module]:
    """Depth-wise conv (no bias: BN follows) + BN."""
    conv = nn.Conv2d(channels, channels, kernel, stride, padding, groups=channels, bias=False)
    return [conv, nn.BatchNorm2d(channels)]


def row_tiles(channels: int, pixels: int) -> int:
    """Pixels per row of a channels_last map's (n, pixels / k, k * channels) view: enough for
    inner loops of >= 64 elements (with 16 channels a bf16 loop would fill half a vector)."""
    k = 1
    while k * channels < 64 and pixels % (2 * k) == 0:
        k *= 2
    return k


def global_rows(t: Tensor, tiles: int) -> Tensor:
    """A (n, c, h, w) map as a 3-d view with its memory's contiguous axis last: (n, c, h*w) when
    contiguous (tiles 0), else channels_last as (n, h*w / tiles, tiles * c)."""
    n, c, h, w = t.shape
    if not tiles:
        return t.view(n, c, h * w)
    return t.permute(0, 2, 3, 1).reshape(n, h * w // tiles, tiles * c)


def channel_sums(rows: Tensor, tiles: int, dtype: torch.dtype) -> Tensor:
    """Per-channel sums (n, c) of ``global_rows``, as ``dtype``. (A bf16 sum accumulates in fp32
    anyway; asking for an fp32 result would first copy the whole input to fp32, 6x slower.)"""
    sums = rows.sum(1 if tiles else 2).to(dtype)
    return sums.view(len(rows), tiles, -1).sum(1) if tiles else sums


class GlobalDepthwiseConv(nn.Conv2d):
    """A depth-wise conv whose kernel is its whole ``size`` input: out[n, c] = sum_hw x * w[c].

    Computed as that weighted spatial sum, a multiply and a reduction along the input's
    memory order (NCHW or channels_last), which costs what its arithmetic does; oneDNN runs
    the convolution 2-10x slower. The weight is cast to the input's dtype (bf16 under
    autocast, as the convolution's would be). Parameters and state_dict keys are those of
    ``nn.Conv2d(channels, channels, size, groups=channels, bias=False)``; under torch.jit
    tracing (fvcore's cost counter) it runs that convolution, so costs count its MACs.
    """

    def __init__(self, channels: int, size: tuple[int, int]) -> None:
        super().__init__(channels, channels, size, groups=channels, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_tracing():
            return super().forward(x)
        n, c, h, w = x.shape
        tiles = 0 if x.is_contiguous() else row_tiles(c, h * w)
        weight = self.weight.to(x.dtype).view(c, h * w)
        if tiles:  # laid out as the channels_last rows are
            weight = weight.t().contiguous().view(h * w // tiles, tiles * c)
        acc = torch.promote_types(x.dtype, torch.float32)
        sums = channel_sums(global_rows(x, tiles) * weight, tiles, acc)
        return sums.to(x.dtype).view(n, c, 1, 1)


class Gather(nn.Module):
    """Parameter-free (pooling) or parametric (depth-wise conv) gather of one extent.

    ``op='pool'``: avg or max pooling with the window of :func:`pool_window`; the
    average divides by the in-image window size (``count_include_pad=False``, as
    timm does), so border cells are not biased towards zero.
    ``op='dwconv'``: log2(e) depth-wise 3x3 stride-2 convs, each with BN, ReLU
    between convs, none after the last (the authors' Caffe models); ``depth``
    beyond that adds stride-1 3x3 convs, which widen the field past iota(u, e).
    The global dwconv gather is one depth-wise conv whose kernel is the whole
    feature map (a GlobalDepthwiseConv, preceded by depth-1 stride-2 3x3 convs), so it needs
    ``feature_size`` and accepts only inputs of ``required_size``.
    """

    def __init__(self, channels: int, *, op: str = "pool", pool: str = "avg", extent: Extent = "global",
                 depth: int | None = None, feature_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        _check_choice("gather op", op, GATHER_OPS)
        _check_choice("pool", pool, POOLS)
        _check_choice("extent", extent, EXTENTS)
        self.op, self.pool, self.extent = op, pool, extent
        self.required_size: tuple[int, int] | None = None
        self.layers: nn.Sequential | None = None
        if op == "pool":
            if depth is not None:
                raise ValueError("depth applies to the dwconv gather only, not to pooling")
            return
        minimum = min_gather_depth(extent)
        depth = minimum if depth is None else depth
        if depth < minimum:
            raise ValueError(f"a dwconv gather of extent {extent} needs depth >= {minimum}, not {depth}")
        if extent == "global":
            if feature_size is None:
                raise ValueError("the global parametric (dwconv) gather needs feature_size: "
                                 "its kernel is the whole feature map")
            self.required_size = (int(feature_size[0]), int(feature_size[1]))
            units = [_dw_unit(channels, 3, 2, 1) for _ in range(depth - 1)]
            units.append([GlobalDepthwiseConv(channels, reduced_size(self.required_size, depth - 1)),
                          nn.BatchNorm2d(channels)])
        else:
            units = [_dw_unit(channels, 3, 2, 1) for _ in range(minimum)]
            units += [_dw_unit(channels, 3, 1, 1) for _ in range(depth - minimum)]
        layers: list[nn.Module] = []
        for i, unit in enumerate(units):
            layers += unit if i == len(units) - 1 else unit + [nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.layers is not None:
            if self.required_size is not None and tuple(x.shape[-2:]) != self.required_size:
                raise ValueError(f"this global dwconv gather was built for {self.required_size} "
                                 f"inputs, got {tuple(x.shape[-2:])}")
            return self.layers(x)
        if self.extent == "global":
            return x.mean((2, 3), keepdim=True) if self.pool == "avg" else x.amax((2, 3), keepdim=True)
        kernel, stride, padding = pool_window(self.extent)
        if self.pool == "avg":
            return F.avg_pool2d(x, kernel, stride, padding, count_include_pad=False)
        return F.max_pool2d(x, kernel, stride, padding)

    def extra_repr(self) -> str:
        kind = self.pool if self.op == "pool" else "dwconv"
        return f"op={kind}, extent={self.extent}, required_size={self.required_size}"

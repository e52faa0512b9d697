"""The Gather-Excite block: one point of the GE design space (Hu et al. 2018)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
import torch.nn.functional as F

from gespace.ops.excite import Excite
from gespace.ops.gather import Extent, Gather, channel_sums, global_rows, pool_window, row_tiles


def _inv_window_sizes(length: int, extent: int, like: Tensor) -> Tensor:
    """1 / in-image size of each pooling window along one axis (count_include_pad=False)."""
    u = torch.arange(-(-length // extent), device=like.device)
    size = (extent * u + extent - 1).clamp(max=length - 1) - (extent * u - extent + 1).clamp(min=0) + 1
    return size.to(like.dtype).reciprocal_()


def _sum_last(t: Tensor) -> Tensor:
    """Sum over the last axis; for lengths <= 4 by adding slices, several times faster on CPU
    than torch's reduction, whose per-output overhead dominates such short inner loops."""
    if t.shape[-1] > 4:
        return t.sum(-1)
    out = t[..., 0] + t[..., 1] if t.shape[-1] > 1 else t[..., 0].clone()
    for i in range(2, t.shape[-1]):
        out += t[..., i]
    return out


def _per_row(values: Tensor, tiles: int, dtype: torch.dtype) -> Tensor:
    """(n, c) per-channel values, broadcastable against ``global_rows``."""
    values = values.to(dtype)
    return values.unsqueeze(2) if not tiles else values.repeat(1, tiles).unsqueeze(1)


class _AvgSigmoidGate(torch.autograd.Function):
    """GE-theta-minus, fused: y = x * nearest(sigmoid(avg_pool(x))), x contiguous with H and W
    multiples of e, or global extent and x contiguous or channels_last.

    Autograd's composition allocates about eight full-size tensors per step
    (resized map, gate, product and their gradients, a zero-filled pooling
    gradient, the sum of x's two gradients). This keeps the gate at low
    resolution, and its backward writes gy * x into the buffer that then becomes
    grad_x, so forward + backward allocate two. Full-size loops broadcast along
    rows with W contiguous (a stride-0 inner loop of length e is several times slower);
    the global extent along whole maps (NCHW) or rows of whole pixels (channels_last),
    with its gate in fp32 at least (bf16 x).
    """

    @staticmethod
    def forward(ctx, x: Tensor, extent: Extent) -> Tensor:
        if extent == "global":
            return _AvgSigmoidGate.forward_global(ctx, x)
        ctx.tiles = None
        n, c, H, W = x.shape
        g = F.avg_pool2d(x, *pool_window(extent), count_include_pad=False).sigmoid_()
        inv = _inv_window_sizes(H, extent, x)[:, None] * _inv_window_sizes(W, extent, x)
        h, w = g.shape[-2:]
        rows = g.repeat_interleave(W // w, dim=-1).unsqueeze(3)  # (n, c, h, 1, W)
        ctx.save_for_backward(x, g, rows, inv)
        return (x.view(n, c, h, H // h, W) * rows).view(x.shape)

    @staticmethod
    def forward_global(ctx, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        ctx.tiles = 0 if x.is_contiguous() else row_tiles(c, h * w)
        rows = global_rows(x, ctx.tiles)
        acc = torch.promote_types(x.dtype, torch.float32)
        g = channel_sums(rows, ctx.tiles, acc).div_(h * w).sigmoid_()
        gate = _per_row(g, ctx.tiles, x.dtype)
        ctx.save_for_backward(x, g, gate)
        out = rows * gate
        return out.view(x.shape) if not ctx.tiles else out.view(n, h, w, c).permute(0, 3, 1, 2)

    @staticmethod
    def backward_global(ctx, gy: Tensor) -> Tensor:
        x, g, gate = ctx.saved_tensors
        n, c, h, w = x.shape
        layout = torch.channels_last if ctx.tiles else torch.contiguous_format
        gy_rows = global_rows(gy.contiguous(memory_format=layout), ctx.tiles)
        grad = torch.mul(gy_rows, global_rows(x, ctx.tiles))
        # d loss / d mean, the same for every pixel of a channel.
        q = torch.ops.aten.sigmoid_backward(channel_sums(grad, ctx.tiles, g.dtype), g).div_(h * w)
        torch.addcmul(_per_row(q, ctx.tiles, x.dtype), gy_rows, gate, out=grad)
        return grad.view(x.shape) if not ctx.tiles else grad.view(n, h, w, c).permute(0, 3, 1, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy: Tensor) -> tuple[Tensor, None]:
        if ctx.tiles is not None:
            return _AvgSigmoidGate.backward_global(ctx, gy), None
        x, g, rows, inv = ctx.saved_tensors
        n, c, H, W = x.shape
        h, w = g.shape[-2:]
        kh, kw = H // h, W // w
        gy = gy.contiguous()
        gy5 = gy.view(n, c, h, kh, W)
        grad = torch.mul(gy, x)
        grad5 = grad.view(n, c, h, kh, W)
        # d loss / d window mean, spread evenly over the window's in-image inputs.
        q = torch.ops.aten.sigmoid_backward(_sum_last(grad5.sum(3).view(n, c, h, w, kw)), g).mul_(inv)
        # Input (row b*kh + r, col b'*kw + r') lies in window (b, b'), and also in the next
        # window down if r >= 1 and the next one right if r' >= 1 (window 2e-1, stride e).
        first = q.repeat_interleave(kw, dim=-1)  # rows r == 0
        first.view(n, c, h, w, kw)[..., :-1, 1:] += q[..., 1:, None]
        other = first.clone()  # rows r >= 1
        other[:, :, :-1] += first[:, :, 1:]
        torch.addcmul(first.unsqueeze(3), gy5[:, :, :, :1], rows, out=grad5[:, :, :, :1])
        torch.addcmul(other.unsqueeze(3), gy5[:, :, :, 1:], rows, out=grad5[:, :, :, 1:])
        return grad, None


class GEBlock(nn.Module):
    """Gather then excite; keyword names are the ``ge.gather.*`` / ``ge.excite.*`` knobs.

    The SE subnet after a dwconv gather gets a ReLU on its input (GE-theta+, as
    the authors built it). GE-theta-minus (avg pool, sigmoid, no subnet, nearest
    resize or global extent) runs through a fused autograd function whenever the
    input is contiguous with H and W multiples of e, or channels_last with the global
    extent; it computes the same function.
    """

    def __init__(self, channels: int, *, gather_op: str = "pool", pool: str = "avg", extent: Extent = "global",
                 depth: int | None = None, interp: str = "nearest", gate: str = "sigmoid", mlp: str = "none",
                 reduction: int = 16, feature_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.gather = Gather(channels, op=gather_op, pool=pool, extent=extent, depth=depth,
                             feature_size=feature_size)
        self.excite = Excite(channels, interp=interp, gate=gate, mlp=mlp, reduction=reduction,
                             relu_in=gather_op == "dwconv" and mlp == "se")
        self.extent = extent
        self.fused = (gather_op == "pool" and pool == "avg" and gate == "sigmoid" and mlp == "none"
                      and (interp == "nearest" or extent == "global"))

    def forward(self, x: Tensor) -> Tensor:
        if self.fused and x.is_contiguous() and (
                self.extent == "global" or (x.shape[-2] % self.extent == 0 and x.shape[-1] % self.extent == 0)):
            return _AvgSigmoidGate.apply(x, self.extent)
        if self.fused and self.extent == "global" and x.is_contiguous(memory_format=torch.channels_last):
            return _AvgSigmoidGate.apply(x, self.extent)
        return self.excite(x, self.gather(x))

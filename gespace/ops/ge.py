"""The Gather-Excite block: one point of the GE design space (Hu et al. 2018)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
import torch.nn.functional as F

from gespace.ops.excite import Excite
from gespace.ops.gather import Extent, Gather, pool_window


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


class _AvgSigmoidGate(torch.autograd.Function):
    """GE-theta-minus, fused: y = x * nearest(sigmoid(avg_pool(x))), H and W multiples of e or global.

    Autograd's composition allocates about eight full-size tensors per step
    (resized map, gate, product and their gradients, a zero-filled pooling
    gradient, the sum of x's two gradients). This keeps the gate at low
    resolution, and its backward writes gy * x into the buffer that then becomes
    grad_x, so forward + backward allocate two. Full-size loops broadcast along
    rows with W contiguous (a stride-0 inner loop of length e is several times slower).
    """

    @staticmethod
    def forward(ctx, x: Tensor, extent: Extent) -> Tensor:
        n, c, H, W = x.shape
        if extent == "global":
            g = x.mean((2, 3), keepdim=True).sigmoid_()
            inv = torch.full((1, 1), 1.0 / (H * W), dtype=x.dtype, device=x.device)
        else:
            g = F.avg_pool2d(x, *pool_window(extent), count_include_pad=False).sigmoid_()
            inv = _inv_window_sizes(H, extent, x)[:, None] * _inv_window_sizes(W, extent, x)
        h, w = g.shape[-2:]
        rows = g.repeat_interleave(W // w, dim=-1).unsqueeze(3)  # (n, c, h, 1, W)
        ctx.save_for_backward(x, g, rows, inv)
        return (x.view(n, c, h, H // h, W) * rows).view(x.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy: Tensor) -> tuple[Tensor, None]:
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
    input's H and W are multiples of e; it computes the same function.
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
        return self.excite(x, self.gather(x))

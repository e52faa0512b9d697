"""Excite operator (Hu et al. 2018, Sec. 2-3): x * gate(interp(f(gathered)))."""
from __future__ import annotations

import torch
from torch import Tensor, nn
import torch.nn.functional as F

INTERPS = ("nearest", "bilinear")
GATES = {"sigmoid": torch.sigmoid, "hard_sigmoid": F.hardsigmoid}
MLPS = ("none", "se")


def _is_pow2_multiple(big: int, small: int) -> bool:
    """big == small * 2^k: then torch's nearest resize is exactly index // 2^k (its scale is exact).

    Sizes are cast to int: under torch.jit tracing (fvcore's counter) they are 0-dim tensors.
    """
    ratio, rem = divmod(int(big), int(small))
    return rem == 0 and ratio & (ratio - 1) == 0


def scale_by_gate(x: Tensor, gate: Tensor) -> Tensor:
    """x * nearest-resize(gate) to x's H x W.

    A 1x1 gate broadcasts. When H, W are power-of-two multiples of the gate's
    size the resize is a broadcast over a (N, C, h, kh, W) view, with the gate
    widened along W only, so the multiply's inner loop stays long and contiguous;
    otherwise it falls back to ``F.interpolate``.
    """
    (h, w), (H, W) = gate.shape[-2:], x.shape[-2:]
    if (h, w) == (1, 1):
        return x * gate
    if x.is_contiguous() and _is_pow2_multiple(H, h) and _is_pow2_multiple(W, w):
        n, c = gate.shape[:2]
        kh, kw = H // h, W // w
        rows = gate.unsqueeze(-1).expand(n, c, h, w, kw).reshape(n, c, h, 1, W)
        return (x.view(n, c, h, kh, W) * rows).view(x.shape)
    return x * F.interpolate(gate, size=(H, W), mode="nearest")


class Excite(nn.Module):
    """Rescale x by a gate computed from the gathered map.

    ``mlp='se'`` is SE's subnet (1x1 conv C -> C/r with bias, ReLU, 1x1 conv back);
    ``relu_in`` puts a ReLU on the gathered map first (GE-theta+: ReLU after the
    parametric gather's BN). Nearest resizing commutes with the gate, so the gate
    is evaluated at the gathered resolution; bilinear resizing does not, so it
    resizes first (align_corners=False) and gates at full resolution.
    """

    def __init__(self, channels: int, *, interp: str = "nearest", gate: str = "sigmoid", mlp: str = "none",
                 reduction: int = 16, relu_in: bool = False) -> None:
        super().__init__()
        if interp not in INTERPS:
            raise ValueError(f"interp must be one of {list(INTERPS)}, not {interp!r}")
        if gate not in GATES:
            raise ValueError(f"gate must be one of {list(GATES)}, not {gate!r}")
        if mlp not in MLPS:
            raise ValueError(f"mlp must be one of {list(MLPS)}, not {mlp!r}")
        self.interp, self.gate, self.relu_in = interp, gate, relu_in
        self.mlp: nn.Sequential | None = None
        if mlp == "se":
            hidden = max(1, channels // reduction)
            self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(hidden, channels, 1))

    def logits(self, gathered: Tensor) -> Tensor:
        """The pre-gate map at the gathered resolution (after the subnet, if any)."""
        g = F.relu(gathered) if self.relu_in else gathered
        return self.mlp(g) if self.mlp is not None else g

    def gate_map(self, gathered: Tensor) -> Tensor:
        """The gate values at the gathered resolution: the channel importances of the paper's Sec. 4."""
        return GATES[self.gate](self.logits(gathered))

    def forward(self, x: Tensor, gathered: Tensor) -> Tensor:
        g = self.logits(gathered)
        gate = GATES[self.gate]
        if self.interp == "bilinear" and g.shape[-2:] != (1, 1):
            return x * gate(F.interpolate(g, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return scale_by_gate(x, gate(g))

    def extra_repr(self) -> str:
        return f"interp={self.interp}, gate={self.gate}, relu_in={self.relu_in}"

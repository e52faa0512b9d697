"""Gather, Excite and GE blocks: the paper's definitions, checked on real values."""
from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from torch import nn
import torch.nn.functional as F

from gespace.ops import BLOCKS, Excite, Gather, GEBlock, SEBlock, create_block
from gespace.ops.gather import GlobalDepthwiseConv
from gespace.ops.ge import _AvgSigmoidGate

EXTENTS = (2, 4, 8)


def naive_ge_minus(x: torch.Tensor, e: int) -> torch.Tensor:
    """GE-theta-minus as the paper writes it: pool, nearest resize, sigmoid, multiply."""
    pooled = F.avg_pool2d(x, 2 * e - 1, e, e - 1, count_include_pad=False)
    return x * torch.sigmoid(F.interpolate(pooled, size=x.shape[-2:], mode="nearest"))


def positive_dwconv_gather(channels: int, e: int, **kwargs) -> Gather:
    """A dwconv gather in eval mode with positive weights, so no ReLU hides a dependence."""
    gather = Gather(channels, op="dwconv", extent=e, **kwargs).eval()
    with torch.no_grad():
        for m in gather.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.uniform_(0.1, 1.0)
    return gather


@pytest.mark.parametrize("e", EXTENTS)
def test_pool_output_is_ceil_h_over_e_for_any_size(e):
    for h, w in zip(range(1, 41), range(40, 0, -1)):  # every H and every W in 1..40
        for pool in ("avg", "max"):
            out = Gather(2, pool=pool, extent=e)(torch.randn(1, 2, h, w))
            assert out.shape[-2:] == (math.ceil(h / e), math.ceil(w / e)), (pool, h, w)


@pytest.mark.parametrize("e", EXTENTS)
def test_dwconv_output_is_ceil_h_over_e(e):
    for h, w in [(1, 1), (7, 9), (13, 40), (56, 56)]:
        out = Gather(2, op="dwconv", extent=e, depth=int(math.log2(e)) + 1)(torch.randn(2, 2, h, w))
        assert out.shape[-2:] == (math.ceil(h / e), math.ceil(w / e))


@pytest.mark.parametrize("kind", ["avg", "max", "dwconv"])
@pytest.mark.parametrize("e", EXTENTS)
def test_gather_sees_only_iota_u_e(kind, e):
    """Sec. 2: output cell u depends only on inputs {e*u + d : |d| <= floor((2e-1)/2)} (0-indexed)."""
    if kind == "dwconv":
        gather = positive_dwconv_gather(3, e)  # log2(e) stride-2 3x3 convs: field 2^(k+1)-1 = 2e-1
    else:
        gather = Gather(3, pool=kind, extent=e)
    size, reach = 4 * e + 3, (2 * e - 1) // 2
    x = torch.rand(1, 3, size, size, requires_grad=True)
    out = gather(x)
    for u1, u2 in itertools.product(range(out.shape[2]), range(out.shape[3])):
        (grad,) = torch.autograd.grad(out[0, 1, u1, u2], x, retain_graph=True)
        inside = torch.zeros_like(grad, dtype=torch.bool)
        inside[0, 1, max(e * u1 - reach, 0):e * u1 + reach + 1, max(e * u2 - reach, 0):e * u2 + reach + 1] = True
        assert grad[~inside].abs().max() == 0, (u1, u2)
        assert grad[inside].abs().max() > 0
        if kind != "max":  # pooling and the positive conv chain use the whole (in-image) window
            assert (grad[inside] != 0).all()


def test_extra_dwconv_depth_widens_the_field():
    """depth > log2(e) adds stride-1 convs: each widens the field by e on every side, beyond iota(u, e)."""
    gather = positive_dwconv_gather(1, 2, depth=2)
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(gather(x)[0, 0, 4, 4], x)
    rows = grad[0, 0].abs().sum(1).nonzero().flatten()
    assert (rows.min().item(), rows.max().item()) == (8 - 3, 8 + 3)


def test_global_ge_minus_is_x_times_sigmoid_of_mean():
    x = torch.randn(2, 5, 7, 9)
    expected = x * torch.sigmoid(x.mean((2, 3), keepdim=True))
    torch.testing.assert_close(GEBlock(5)(x), expected)
    torch.testing.assert_close(GEBlock(5, interp="bilinear")(x), expected)


def test_se_block_equals_hand_written_se_net():
    torch.manual_seed(0)
    c, r = 32, 8
    block = SEBlock(c, reduction=r)
    down, up = nn.Linear(c, c // r), nn.Linear(c // r, c)
    with torch.no_grad():
        block.excite.mlp[0].weight.copy_(down.weight[:, :, None, None])
        block.excite.mlp[0].bias.copy_(down.bias)
        block.excite.mlp[2].weight.copy_(up.weight[:, :, None, None])
        block.excite.mlp[2].bias.copy_(up.bias)
    x = torch.randn(3, c, 5, 6)
    squeezed = x.mean((2, 3))
    expected = x * torch.sigmoid(up(torch.relu(down(squeezed))))[:, :, None, None]
    torch.testing.assert_close(block(x), expected)
    assert isinstance(create_block("se", c), SEBlock) and set(BLOCKS) == {"ge", "se"}


@pytest.mark.parametrize("size", [(7, 9), (3, 3), (56, 56), (8, 24), (13, 16)])
@pytest.mark.parametrize("e", EXTENTS)
def test_ge_minus_equals_naive_composition(size, e):
    x = torch.randn(2, 4, *size, requires_grad=True)
    gy = torch.randn(2, 4, *size[::-1]).transpose(2, 3)  # a non-contiguous incoming gradient
    block = GEBlock(4, extent=e)
    fused_used = size[0] % e == 0 and size[1] % e == 0
    assert block.fused
    y, y_ref = block(x), naive_ge_minus(x, e)
    assert (y.grad_fn.name() == "_AvgSigmoidGateBackward") == fused_used
    assert (y - y_ref).abs().max() < 1e-5
    (grad,), (grad_ref,) = torch.autograd.grad(y, x, gy), torch.autograd.grad(y_ref, x, gy)
    assert (grad - grad_ref).abs().max() < 1e-5


@pytest.mark.parametrize("extent", [2, 4, 8, "global"])
def test_fused_gate_gradcheck(extent):
    x = torch.randn(1, 2, 16, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _AvgSigmoidGate.apply(t, extent), (x,), fast_mode=True)


@pytest.mark.parametrize("shape", [(4, 16, 28, 28), (3, 5, 7, 9), (2, 64, 7, 7), (2, 24, 6, 10)])
def test_channels_last_global_ge_minus_is_fused_and_exact(shape):
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_()
    y, y_ref = GEBlock(shape[1])(x), x * torch.sigmoid(x.mean((2, 3), keepdim=True))
    assert y.grad_fn.name() == "_AvgSigmoidGateBackward"
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert (y - y_ref).abs().max() < 1e-5
    gy = torch.randn_like(y_ref)
    (grad,), (grad_ref,) = torch.autograd.grad(y, x, gy), torch.autograd.grad(y_ref, x, gy)
    assert (grad - grad_ref).abs().max() < 1e-5
    assert grad.is_contiguous(memory_format=torch.channels_last)
    x64 = torch.randn(1, 20, 4, 6, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(lambda t: _AvgSigmoidGate.apply(t, "global"),
                                    (x64.requires_grad_(),), fast_mode=True)


def test_excite_broadcast_path_equals_interpolate():
    x, g = torch.randn(2, 3, 12, 20), torch.randn(2, 3, 3, 5)
    for gate in ("sigmoid", "hard_sigmoid"):
        fn = torch.sigmoid if gate == "sigmoid" else F.hardsigmoid
        torch.testing.assert_close(Excite(3, gate=gate)(x, g), x * fn(F.interpolate(g, size=(12, 20))))
        expected = x * fn(F.interpolate(g, size=(12, 20), mode="bilinear", align_corners=False))
        torch.testing.assert_close(Excite(3, gate=gate, interp="bilinear")(x, g), expected)
    odd = torch.randn(2, 3, 7, 9)  # not a multiple: falls back to interpolate
    torch.testing.assert_close(Excite(3)(odd, g[..., :2, :2]), odd * torch.sigmoid(F.interpolate(g[..., :2, :2], (7, 9))))


@pytest.mark.parametrize("op,pool", [("pool", "avg"), ("pool", "max"), ("dwconv", "avg")])
@pytest.mark.parametrize("extent", [2, 4, 8, "global"])
def test_every_combination_runs_on_odd_sizes(op, pool, extent):
    size = (7, 9)
    x = torch.randn(4, 32, *size, requires_grad=True)
    for interp, gate, mlp in itertools.product(("nearest", "bilinear"), ("sigmoid", "hard_sigmoid"), ("none", "se")):
        block = create_block("ge", 32, gather_op=op, pool=pool, extent=extent, interp=interp, gate=gate, mlp=mlp,
                             feature_size=size)
        y = block(x)
        assert y.shape == x.shape
        y.square().sum().backward()
        assert x.grad.abs().sum() > 0
        grads = [p.grad for p in block.parameters()]
        assert all(g is not None for g in grads)
        assert not grads or sum(g.abs().sum() for g in grads) > 0
        x.grad = None


def test_parameter_counts():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(GEBlock(256)) == 0
    assert count(GEBlock(256, extent=8)) == 0
    assert count(Gather(256, op="dwconv", extent="global", feature_size=(56, 56))) == 256 * 56 * 56 + 2 * 256
    assert count(Gather(256, op="dwconv", extent=8)) == 3 * (256 * 9 + 2 * 256)
    assert count(Excite(256, mlp="se", reduction=16)) == 256 * 16 + 16 + 16 * 256 + 256
    assert count(SEBlock(256)) == 256 * 16 + 16 + 16 * 256 + 256
    theta_plus = GEBlock(256, gather_op="dwconv", mlp="se", feature_size=(56, 56))
    assert count(theta_plus) == 256 * 56 * 56 + 2 * 256 + 256 * 16 + 16 + 16 * 256 + 256
    assert theta_plus.excite.relu_in and not GEBlock(256, mlp="se").excite.relu_in


def test_global_dwconv_depth_reduces_the_kernel():
    gather = Gather(8, op="dwconv", extent="global", depth=3, feature_size=(56, 56))
    convs = [m for m in gather.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((3, 3), (2, 2)), ((3, 3), (2, 2)), ((14, 14), (1, 1))]
    assert gather(torch.randn(2, 8, 56, 56)).shape == (2, 8, 1, 1)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(4, 16, 28, 28), (3, 8, 7, 9), (2, 64, 1, 1), (2, 1, 5, 5)])
def test_global_depthwise_conv_is_its_convolution(shape, channels_last):
    """The weighted spatial sum computes the convolution: outputs and both gradients within 1e-5."""
    n, c, h, w = shape
    torch.manual_seed(0)
    conv = GlobalDepthwiseConv(c, (h, w))
    x = torch.randn(shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    y, y_ref = conv(x), F.conv2d(x, conv.weight, groups=c)
    assert y.shape == y_ref.shape == (n, c, 1, 1)
    assert (y - y_ref).abs().max() < 1e-5
    gy = torch.randn_like(y_ref)
    grads = torch.autograd.grad(y, (x, conv.weight), gy)
    grads_ref = torch.autograd.grad(y_ref, (x, conv.weight), gy)
    for grad, grad_ref in zip(grads, grads_ref):
        assert (grad - grad_ref).abs().max() < 1e-5
    # The input gradient keeps the input's layout (the next conv's backward wants it so).
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert grads[0].is_contiguous(memory_format=layout)


def test_global_depthwise_conv_under_bf16_autocast_and_tracing():
    conv = GlobalDepthwiseConv(16, (14, 14))
    x = torch.randn(8, 16, 14, 14)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x.bfloat16())  # what the previous layer hands it under autocast
        y_ref = F.conv2d(x.bfloat16(), conv.weight.bfloat16(), groups=16)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), y_ref.float(), rtol=2e-2, atol=2e-2)
    # fvcore's cost counter traces it: the trace holds the convolution, whose MACs the paper counts.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        graph = torch.jit.trace(conv, (x,)).inlined_graph
    assert "aten::_convolution" in str(graph) and "aten::mul" not in str(graph)
    assert set(conv.state_dict()) == {"weight"}


def test_clear_errors():
    with pytest.raises(ValueError, match="global parametric.*feature_size"):
        Gather(8, op="dwconv", extent="global")
    with pytest.raises(ValueError, match="depth >= 3"):
        Gather(8, op="dwconv", extent=8, depth=2)
    gather = Gather(8, op="dwconv", extent="global", feature_size=(14, 14))
    assert gather.required_size == (14, 14) and Gather(8, op="dwconv", extent=4).required_size is None
    with pytest.raises(ValueError, match=r"built for \(14, 14\).*\(7, 7\)"):
        gather(torch.randn(2, 8, 7, 7))
    with pytest.raises(ValueError, match="extent"):
        Gather(8, extent=3)
    with pytest.raises(ValueError, match="unknown block kind"):
        create_block("cbam", 8)

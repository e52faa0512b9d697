"""Backbones: parameter counts, output shapes, the block_fn hook (stages, channels, sizes,
placement on the residual branch) and initialisation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gespace.backbones import BACKBONES, cifar_resnet, preact_resnet, resnet, shufflenet, wrn
from gespace.vocab import ARCH_STAGES, ARCHS


@pytest.fixture(autouse=True)
def one_thread():
    """Small forward passes: one thread avoids OpenMP spinning on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(build, **kwargs) -> nn.Module:
    """Build without allocating or initialising weights: enough to count parameters."""
    with torch.device("meta"):
        return build(**kwargs)


class Probe(nn.Module):
    """A stand-in GE block: records what it is given and sees; optionally zeroes the branch."""

    def __init__(self, stage: int, channels: int, size: tuple[int, int], zero: bool = False) -> None:
        super().__init__()
        self.stage, self.channels, self.size, self.zero = stage, channels, size, zero
        self.seen: tuple[int, ...] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = tuple(x.shape[1:])
        return x * 0 if self.zero else x


def probes(model: nn.Module) -> list[tuple[str, Probe]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Probe)]


def test_registry_keys_are_the_vocabulary_archs():
    assert tuple(BACKBONES) == ARCHS


# Exact counts (torchvision's resnet18/34/50/101/152 have the same) and the papers' rounded ones.
@pytest.mark.parametrize("build, kwargs, exact, paper_m", [
    (resnet, dict(depth=18), 11_689_512, 11.7),
    (resnet, dict(depth=34), 21_797_672, 21.8),
    (resnet, dict(depth=50), 25_557_032, 25.6),
    (resnet, dict(depth=50, style="torchvision"), 25_557_032, 25.6),
    (resnet, dict(depth=101), 44_549_160, 44.5),
    (resnet, dict(depth=152), 60_192_808, 60.2),
    (cifar_resnet, dict(depth=110), 1_730_714, 1.7),   # He et al.: 1.7M
    (preact_resnet, dict(depth=164), 1_703_258, 1.7),  # He et al. (identity mappings): 1.7M
    (wrn, dict(depth=16, widen=8), 10_961_370, 11.0),  # Zagoruyko: 11.0M
    (shufflenet, dict(groups=3, scale=1.0), 1_865_728, 1.9),  # GE paper Table 4: 1.9M
])
def test_parameter_counts(build, kwargs, exact, paper_m):
    count = n_params(on_meta(build, **kwargs))
    assert count == exact
    assert round(count / 1e6, 1) == pytest.approx(paper_m)


def test_shufflenet_1x_g3_costs_137_mflops():
    from gespace.cost import count_cost

    cost = count_cost(shufflenet(), 224, 3)
    assert cost.macs == 137_460_672  # paper (GE Table 4) 137.5, ShuffleNet paper "140"
    assert cost.by_op["conv"] + cost.by_op["linear"] == cost.macs


@pytest.mark.parametrize("arch, kwargs, size, in_channels", [
    ("resnet", dict(depth=50), 224, 3),
    ("resnet", dict(depth=50, style="torchvision"), 32, 3),
    ("resnet", dict(depth=18), 28, 1),
    ("cifar_resnet", dict(depth=20), 32, 3),
    ("cifar_resnet", dict(depth=20, width=8), 28, 1),
    ("preact_resnet", dict(depth=29), 32, 3),
    ("preact_resnet", dict(depth=29), 28, 1),
    ("wrn", dict(depth=10, widen=2, dropout=0.3), 32, 3),
    ("wrn", dict(depth=16, widen=1), 28, 1),
    ("shufflenet", dict(groups=3), 224, 3),
    ("shufflenet", dict(groups=8, scale=0.5), 32, 3),
    ("shufflenet", dict(groups=2, scale=1.5), 28, 1),
])
def test_output_shape_and_block_feature_sizes(arch, kwargs, size, in_channels):
    model = BACKBONES[arch](**kwargs, in_channels=in_channels, num_classes=7, image_size=size,
                            block_fn=Probe).eval()
    with torch.no_grad():
        out = model(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, 7)
    found = probes(model)
    assert {p.stage for _, p in found} == set(ARCH_STAGES[arch])
    for name, probe in found:
        assert name.startswith(f"stage{probe.stage}.") and name.endswith(".ge")
        assert probe.seen == (probe.channels, *probe.size), name  # the sizes block_fn was told


@pytest.mark.parametrize("style", ["caffe", "torchvision"])
def test_resnet50_block_fn_calls(style):
    calls = []
    on_meta(resnet, depth=50, style=style, block_fn=lambda *call: calls.append(call))
    assert calls == ([(2, 256, (56, 56))] * 3 + [(3, 512, (28, 28))] * 4
                     + [(4, 1024, (14, 14))] * 6 + [(5, 2048, (7, 7))] * 3)


@pytest.mark.parametrize("build, kwargs, expected", [
    (cifar_resnet, dict(depth=110), [(2, 16, (32, 32))] * 18 + [(3, 32, (16, 16))] * 18
     + [(4, 64, (8, 8))] * 18),
    (preact_resnet, dict(depth=164), [(2, 64, (32, 32))] * 18 + [(3, 128, (16, 16))] * 18
     + [(4, 256, (8, 8))] * 18),
    (wrn, dict(depth=16, widen=8), [(2, 128, (32, 32))] * 2 + [(3, 256, (16, 16))] * 2
     + [(4, 512, (8, 8))] * 2),
    # Stride-2 units' branches make out - in channels (the pooled shortcut is concatenated).
    (shufflenet, dict(groups=3), [(2, 216, (28, 28))] + [(2, 240, (28, 28))] * 3 + [(3, 240, (14, 14))]
     + [(3, 480, (14, 14))] * 7 + [(4, 480, (7, 7))] + [(4, 960, (7, 7))] * 3),
])
def test_cifar_and_shufflenet_block_fn_calls(build, kwargs, expected):
    calls = []
    on_meta(build, **kwargs, block_fn=lambda *call: calls.append(call))
    assert calls == expected


@pytest.mark.parametrize("arch, kwargs, size", [
    ("resnet", dict(depth=18), 64), ("resnet", dict(depth=50), 64), ("cifar_resnet", dict(depth=20), 32),
    ("preact_resnet", dict(depth=29), 32), ("wrn", dict(depth=10, widen=2), 32), ("shufflenet", {}, 64),
])
def test_block_sits_on_the_residual_branch_before_the_sum(arch, kwargs, size):
    """A block that zeroes its input leaves only the shortcut: the GE block multiplies the whole
    residual branch (after its last BN / conv) and nothing else."""
    model = BACKBONES[arch](**kwargs, image_size=size,
                            block_fn=lambda s, c, hw: Probe(s, c, hw, zero=True)).eval()
    with torch.no_grad():
        x = model.stem(torch.randn(2, 3, size, size))
        for stage in ARCH_STAGES[arch]:
            for block in getattr(model, f"stage{stage}"):
                y = block(x)
                assert torch.equal(y, shortcut_only(arch, block, x))
                x = y


def shortcut_only(arch: str, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if arch in ("resnet", "cifar_resnet"):
        return torch.relu(x if block.downsample is None else block.downsample(x))
    if arch in ("preact_resnet", "wrn"):
        return x if block.shortcut is None else block.shortcut(block.preact(x))
    if block.pool is None:  # shufflenet
        return torch.relu(x)
    pooled = block.pool(x)
    return torch.relu(torch.cat((pooled, pooled.new_zeros(pooled.shape[0], block.ge.channels,
                                                          *pooled.shape[2:])), 1))


def test_ge_output_feeds_the_sum():
    """With an identity GE the network computes exactly what it computes without one."""
    torch.manual_seed(0)
    plain = resnet(18, image_size=32).eval()
    torch.manual_seed(0)
    with_ge = resnet(18, image_size=32, block_fn=lambda s, c, hw: nn.Identity()).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(plain(x), with_ge(x))


def test_kaiming_init_and_no_zero_gamma_and_ge_init_left_alone():
    class Marked(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 1)
            nn.init.constant_(self.conv.weight, 0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    torch.manual_seed(0)
    model = resnet(50, image_size=64, block_fn=lambda s, c, hw: Marked(c))
    conv = model.stage4[1].branch[3]  # 3x3, 256 -> 256: fan_out = 256 * 9
    assert conv.weight.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.05)
    last_bn = model.stage4[1].branch[-1]
    assert torch.all(last_bn.weight == 1) and torch.all(last_bn.bias == 0)
    assert torch.all(model.stage2[0].ge.conv.weight == 0.5)


@pytest.mark.parametrize("build, kwargs, message", [
    (resnet, dict(depth=42), "resnet depth"),
    (resnet, dict(style="pytorch"), "resnet style"),
    (cifar_resnet, dict(depth=21), r"6n\+2"),
    (preact_resnet, dict(depth=100), r"9n\+2"),
    (wrn, dict(depth=15), r"6n\+4"),
    (wrn, dict(dropout=1.0), "dropout"),
    (shufflenet, dict(groups=5), "groups"),
    (shufflenet, dict(scale=0.75), "scale"),
    (cifar_resnet, dict(image_size=0), "image_size"),
    (wrn, dict(width=0), "width"),
])
def test_invalid_configurations_raise_value_error(build, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_narrow_strided_1x1_convs_subsample_then_run_stride_1():
    """Strided 1x1 convs of < 16 inputs (a oneDNN NHWC weight-gradient defect) are built as
    SubsampledConv2d: the same function, parameters, state_dict keys and cost."""
    from gespace.backbones.common import SubsampledConv2d
    from gespace.cost import count_cost

    torch.manual_seed(0)
    narrow = cifar_resnet(8, width=4, in_channels=1, image_size=15)
    shortcut = narrow.stage3[0].downsample[0]  # 4 -> 8, stride 2
    assert isinstance(shortcut, SubsampledConv2d) and shortcut.stride == (1, 1)
    assert isinstance(narrow.stage4[0].downsample[0], SubsampledConv2d)  # 8 -> 16
    assert type(cifar_resnet(8, width=16).stage3[0].downsample[0]) is nn.Conv2d  # 16 inputs
    preact = preact_resnet(11, width=2).stage3[0]  # 8 inputs: the shortcut and the branch's 1x1
    assert isinstance(preact.shortcut, SubsampledConv2d) and isinstance(preact.branch[0], SubsampledConv2d)

    plain = nn.Conv2d(4, 8, 1, 2, bias=False)
    plain.load_state_dict(shortcut.state_dict())  # the same keys and shapes
    for size in (15, 16):  # odd and even inputs
        x = torch.randn(2, 4, size, size)
        torch.testing.assert_close(shortcut(x), plain(x), rtol=0, atol=0)

    def strided(model: nn.Module) -> nn.Module:
        for module in list(model.modules()):
            for name, child in module.named_children():
                if isinstance(child, SubsampledConv2d):
                    setattr(module, name, nn.Conv2d(child.in_channels, child.out_channels, 1,
                                                    child.subsample, bias=False))
        return model

    reference = strided(cifar_resnet(8, width=4, in_channels=1, image_size=15))
    assert set(reference.state_dict()) == set(narrow.state_dict())
    ours, theirs = count_cost(narrow, 15, 1), count_cost(reference, 15, 1)
    assert (ours.macs, ours.params, ours.by_op) == (theirs.macs, theirs.params, theirs.by_op)

"""SegNet and SegNet-Basic: unpooling with indices, the paper's layers, any input size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.encoders import build_encoder
from pixelwise.models.segnet import DecoderLevel, encode  # also registers the models
from pixelwise.models.upsample import UPSAMPLE_MODES
from test_fcn import VGG16_CONVS  # the paper's VGG-16 convolutions, (in, out) each

BASIC_SMALL = {"width": 8, "depth": 3, "kernel_size": 3}


def conv_params(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def segnet_params(num_classes: int, encoder_norm: bool = True) -> int:
    """SegNet over VGG16(-BN), layer by layer: each encoder conv a→b (with bias, BN) is
    mirrored by a decoder conv b→a (no bias, BN); the mirror of conv1_1 classifies."""
    encoder = sum(conv_params(a, b, 3) + (2 * b if encoder_norm else 0) for a, b in VGG16_CONVS)
    decoder = sum(conv_params(b, a, 3, bias=False) + 2 * a for a, b in VGG16_CONVS[1:])
    return encoder + decoder + conv_params(64, num_classes, 3)


def segnet_basic_params(in_channels: int, num_classes: int) -> int:
    """SegNet-Basic: 4 encoder and 4 decoder 7×7 convs of 64 without bias, each with BN."""
    encoder = conv_params(in_channels, 64, 7, bias=False) + 3 * conv_params(64, 64, 7, bias=False)
    decoder = 4 * conv_params(64, 64, 7, bias=False)
    return encoder + decoder + 8 * 2 * 64 + conv_params(64, num_classes, 1)


@pytest.fixture(scope="module")
def paper_segnet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("segnet", 11)


def test_max_unpooling_puts_values_back_at_the_maxima() -> None:
    x = torch.tensor(
        [[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 6.0, 7.0], [9.0, 1.0, 3.0, 2.0]]
    ).view(1, 1, 4, 4)
    pooled, [indices] = encode(nn.Sequential(nn.MaxPool2d(2)), x)
    assert pooled.flatten().tolist() == [5.0, 8.0, 9.0, 7.0]
    level = DecoderLevel(1, convs=nn.Identity(), upsample="unpool")
    expected = torch.tensor(
        [[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 8.0, 0.0], [0.0, 0.0, 0.0, 7.0], [9.0, 0.0, 0.0, 0.0]]
    ).view(1, 1, 4, 4)
    assert torch.equal(level(pooled, indices), expected)


def test_paper_segnet_has_the_papers_layers(paper_segnet: nn.Module) -> None:
    count = sum(p.numel() for p in paper_segnet.parameters())
    assert count == segnet_params(11)
    assert 29.0e6 < count < 29.8e6
    with torch.device("meta"):
        camvid_void = build_model("segnet", 12)
    assert sum(p.numel() for p in camvid_void.parameters()) == segnet_params(12)
    assert [len(level.convs) for level in paper_segnet.decoder] == [3, 3, 3, 2, 1]


def test_segnet_encoder_keeps_torchvision_keys(paper_segnet: nn.Module) -> None:
    vgg = build_encoder("vgg16_bn")
    paper_segnet.encoder.load_state_dict(vgg.state_dict())  # strict: same keys and shapes
    keys = {k.removeprefix("encoder.") for k in paper_segnet.state_dict() if "encoder." in k}
    assert keys == set(vgg.state_dict())


def test_segnet_keeps_odd_sizes_and_is_deterministic(paper_segnet: nn.Module) -> None:
    model = paper_segnet.eval()
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (1, 11, 97, 131) and torch.isfinite(out).all()
        assert torch.equal(model(x), out)
        assert model(torch.randn(1, 3, 1, 1)).shape == (1, 11, 1, 1)


def test_segnet_trains(paper_segnet: nn.Module) -> None:
    model = paper_segnet.train()
    out = model(torch.randn(2, 3, 33, 35))
    out.square().mean().backward()
    assert out.shape == (2, 11, 33, 35) and not torch.isnan(out).any()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.encoder.features[0].weight.grad.abs().sum() > 0
    model.zero_grad()


def test_segnet_variants_over_vgg16_separable_and_bilinear() -> None:
    with torch.device("meta"):
        plain = build_model("segnet", 11, encoder="vgg16")
    assert sum(p.numel() for p in plain.parameters()) == segnet_params(11, encoder_norm=False)
    torch.manual_seed(0)
    model = build_model("segnet", 4, separable=True, upsample="bilinear").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 33, 35)).shape == (1, 4, 33, 35)


def test_segnet_needs_a_vgg_encoder() -> None:
    with pytest.raises(
        PixelwiseError, match=r"'resnet18' does not fit; choose from: vgg16_bn, vgg16$"
    ):
        build_model("segnet", 2, encoder="resnet18")


def test_paper_segnet_basic_has_the_papers_layers() -> None:
    model = build_model("segnet_basic", 11)
    assert sum(p.numel() for p in model.parameters()) == segnet_basic_params(3, 11)
    assert not any(isinstance(m, nn.ReLU) for m in model.decoder.modules())
    assert sum(isinstance(m, nn.ReLU) for m in model.encoder.modules()) == 4


def test_segnet_basic_trains_keeps_odd_sizes_and_is_deterministic() -> None:
    torch.manual_seed(0)
    model = build_model("segnet_basic", 5, width=16)
    x = torch.randn(1, 3, 97, 131)
    out = model(x)
    out.square().mean().backward()
    assert out.shape == (1, 5, 97, 131) and not torch.isnan(out).any()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        assert model(torch.randn(1, 3, 1, 1)).shape == (1, 5, 1, 1)


@pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
@pytest.mark.parametrize("separable", [False, True])
def test_segnet_basic_variants_keep_size(upsample: str, separable: bool) -> None:
    model = build_model("segnet_basic", 3, upsample=upsample, separable=separable, **BASIC_SMALL)
    for h, w in [(1, 1), (13, 30)]:
        assert model(torch.randn(2, 3, h, w)).shape == (2, 3, h, w)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"depth": 0}, "depth"),
        ({"upsample": "cubic"}, "unknown upsample mode 'cubic'"),
    ],
)
def test_bad_segnet_basic_options_name_the_value(options: dict, fragment: str) -> None:
    with pytest.raises(PixelwiseError, match=fragment):
        build_model("segnet_basic", 2, **options)

"""LR-ASPP: torchvision's layer counts, the two MobileNet taps, any input size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model

SIZE = (97, 131)  # /8 is 13×17, /16 is 7×9


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def head_params(low: int, high: int, classes: int, inter: int) -> int:
    """cbr (1×1 + BN), scale (1×1, no BN), the two 1×1 classifiers with bias."""
    return high * inter + 2 * inter + high * inter + (low + 1) * classes + (inter + 1) * classes


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("lraspp", 21)


def test_default_is_torchvisions_lraspp_mobilenet_v3_large(model: nn.Module) -> None:
    assert n_params(model) == 3_221_538
    assert n_params(model.classifier) == head_params(40, 960, 21, 128)
    assert model.blocks == (4, 16)
    assert model.config["output_stride"] == 16 and model.config["inter_channels"] == 128


def test_taps_are_the_first_stride_8_block_and_the_last(model: nn.Module) -> None:
    with torch.no_grad():
        low, high = model.eval().features(torch.randn(1, 3, *SIZE))
    assert low.shape == (1, 40, 13, 17)
    assert high.shape == (1, 960, 7, 9)


def test_trains_keeps_odd_size_and_is_deterministic(model: nn.Module) -> None:
    torch.manual_seed(0)
    model.train()  # no BatchNorm after pooling: one image is a valid batch
    out = model(torch.randn(1, 3, *SIZE))
    assert out.shape == (1, 21, *SIZE)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.encoder.features[0][0].weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    x = torch.randn(1, 3, *SIZE)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert first.shape == (1, 21, *SIZE) and torch.isfinite(first).all()
    assert torch.equal(first, second)


def test_mobilenet_v2_and_inter_channels() -> None:
    torch.manual_seed(0)
    model = build_model("lraspp", 3, in_channels=1, encoder="mobilenet_v2", inter_channels=32)
    assert model.blocks == (4, 18)
    assert n_params(model.classifier) == head_params(32, 1280, 3, 32)
    with torch.no_grad():
        low, high = model.eval().features(torch.randn(1, 1, *SIZE))
        out = model(torch.randn(1, 1, 20, 33))
    assert low.shape == (1, 32, 13, 17) and high.shape == (1, 1280, 7, 9)
    assert out.shape == (1, 3, 20, 33)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encoder": "resnet50"}, "resnet50.*mobilenet_v3_large, mobilenet_v2"),
        ({"output_stride": 32}, "output_stride 32"),
    ],
)
def test_bad_options_are_user_errors(options: dict, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        build_model("lraspp", 2, **options)

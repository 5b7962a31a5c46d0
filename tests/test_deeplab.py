"""DeepLabV3 and DeepLabV3+: torchvision's layer counts, ASPP rates, the decoder, any size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.deeplab import ASPP

SIZE = (97, 131)  # odd on purpose: /8 is 13×17, /16 is 7×9


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_bn(cin: int, cout: int, k: int) -> int:
    """A bias-free k×k convolution followed by BatchNorm (weight and bias)."""
    return cin * cout * k * k + 2 * cout


@pytest.fixture(scope="module")
def resnet50_v3() -> nn.Module:
    torch.manual_seed(0)
    return build_model("deeplabv3", 21)


@pytest.fixture(scope="module")
def mobilenet_v3() -> nn.Module:
    torch.manual_seed(0)
    return build_model(
        "deeplabv3", 21, encoder="mobilenet_v3_large", output_stride=16, rates=[12, 24, 36]
    )


def dilations(aspp: ASPP) -> list[int]:
    """The dilation of each atrous branch (the 1×1 and pooling branches left out)."""
    return [branch[0].dilation[0] for branch in aspp.convs[1:-1]]


def test_resnet50_deeplabv3_has_torchvisions_parameter_count(resnet50_v3: nn.Module) -> None:
    assert n_params(resnet50_v3) == 39_638_869
    assert resnet50_v3.config["output_stride"] == 8 and resnet50_v3.config["rates"] is None
    assert resnet50_v3.encoder.reductions[-1] == 8
    assert dilations(resnet50_v3.classifier[0]) == [12, 24, 36]


def test_mobilenet_deeplabv3_has_torchvisions_parameter_count(mobilenet_v3: nn.Module) -> None:
    assert n_params(mobilenet_v3) == 11_025_477
    assert dilations(mobilenet_v3.classifier[0]) == [12, 24, 36]


def test_deeplabv3plus_adds_the_low_level_decoder(resnet50_v3: nn.Module) -> None:
    """v3+ = v3 without its 3×3 conv and classifier, plus the decoder over layer1 (256 ch)."""
    plus = build_model("deeplabv3plus", 21)
    v3_tail = conv_bn(256, 256, 3) + 256 * 21 + 21
    decoder = conv_bn(256, 48, 1) + conv_bn(256 + 48, 256, 3) + conv_bn(256, 256, 3)
    assert n_params(plus) == n_params(resnet50_v3) - v3_tail + decoder + 256 * 21 + 21
    assert plus.config["output_stride"] == 16 and plus.encoder.reductions[-1] == 16
    assert dilations(plus.classifier.aspp) == [6, 12, 18]
    assert plus.classifier.low_level_index == 1 and plus.encoder.reductions[1] == 4


def check_trains(model: nn.Module, num_classes: int) -> None:
    """A batch of two at 33×47 gives logits of that size and finite gradients everywhere."""
    torch.manual_seed(0)
    model.train()
    out = model(torch.randn(2, 3, 33, 47))
    assert out.shape == (2, num_classes, 33, 47)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.encoder.conv1.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def check_eval(model: nn.Module, num_classes: int) -> None:
    """One image at 97×131: logits of that size, finite, identical on a second run."""
    torch.manual_seed(1)
    x = torch.randn(1, 3, *SIZE)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert first.shape == (1, num_classes, *SIZE)
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


def test_resnet50_deeplabv3_keeps_odd_size(resnet50_v3: nn.Module) -> None:
    with torch.no_grad():
        out = resnet50_v3.eval()(torch.randn(1, 3, *SIZE))
    assert out.shape == (1, 21, *SIZE) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("deeplabv3", {"output_stride": 16}),
        ("deeplabv3plus", {"output_stride": 8, "separable": True}),
    ],
)
def test_small_variants_train_and_keep_odd_size(name: str, options: dict) -> None:
    torch.manual_seed(0)
    model = build_model(name, 4, encoder="resnet18", **options)
    check_trains(model, 4)
    check_eval(model, 4)


def test_deeplabv3plus_over_mobilenet_keeps_odd_size() -> None:
    torch.manual_seed(0)
    model = build_model("deeplabv3plus", 3, encoder="mobilenet_v3_large")
    assert model.encoder.channels[model.classifier.low_level_index] == 24
    check_eval(model, 3)


@pytest.mark.parametrize(
    ("output_stride", "rates", "expected"),
    [(16, None, [6, 12, 18]), (8, None, [12, 24, 36]), (16, [2, 4], [2, 4])],
)
def test_rates_follow_output_stride_unless_given(
    output_stride: int, rates: list[int] | None, expected: list[int]
) -> None:
    model = build_model(
        "deeplabv3", 2, encoder="resnet18", output_stride=output_stride, rates=rates
    )
    aspp = model.classifier[0]
    assert dilations(aspp) == expected
    assert len(aspp.convs) == len(expected) + 2
    with torch.no_grad():
        deepest = model.eval().encoder(torch.randn(1, 3, *SIZE))[-1]
    assert deepest.shape[-2:] == ((13, 17) if output_stride == 8 else (7, 9))


def test_separable_aspp_and_decoder_are_smaller() -> None:
    plain = build_model("deeplabv3plus", 5, encoder="resnet18")
    separable = build_model("deeplabv3plus", 5, encoder="resnet18", separable=True)
    atrous = separable.classifier.aspp.convs[1]
    assert atrous[0].groups == 512 and atrous[0].dilation == (6, 6)
    assert separable.classifier.decoder[0][0].groups == 256 + 48
    assert n_params(separable.classifier) < n_params(plain.classifier) / 3
    assert n_params(separable.encoder) == n_params(plain.encoder)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encoder": "resnet5"}, "resnet5"),
        ({"output_stride": 32}, "output_stride 32"),
        ({"output_stride": 4}, "output_stride 4"),
        ({"rates": [6, 0]}, r"\[6, 0\]"),
    ],
)
@pytest.mark.parametrize("name", ["deeplabv3", "deeplabv3plus"])
def test_bad_options_are_user_errors(name: str, options: dict, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        build_model(name, 2, **{"encoder": "resnet18", **options})

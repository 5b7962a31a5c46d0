"""FCN-32s/16s/8s: the paper's layers, bilinear up-samplers, zero-initialised skips."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pixelwise.models.fcn  # noqa: F401  (registers fcn32s, fcn16s, fcn8s)
from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.upsample import UPSAMPLE_MODES

NAMES = ("fcn32s", "fcn16s", "fcn8s")
SMALL = {"encoder": "resnet18", "fc_width": 8, "fc_kernel": 3}
VGG16_CONVS = [
    (3, 64), (64, 64),
    (64, 128), (128, 128),
    (128, 256), (256, 256), (256, 256),
    (256, 512), (512, 512), (512, 512),
    (512, 512), (512, 512), (512, 512),
]  # fmt: skip


def conv_params(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def paper_fcn_params(skip_reduction: int, num_classes: int) -> int:
    """Parameters of the paper's FCN over VGG16, layer by layer."""
    total = sum(conv_params(a, b, 3) for a, b in VGG16_CONVS)
    total += conv_params(512, 4096, 7)  # fc6
    total += conv_params(4096, 4096, 1)  # fc7
    total += conv_params(4096, num_classes, 1)  # score_fr
    skip_channels = {32: [], 16: [512], 8: [512, 256]}[skip_reduction]  # pool4, pool3
    for channels in skip_channels:  # 2× bilinear upscore (kernel 4) and score_pool<i>
        total += conv_params(num_classes, num_classes, 4, bias=False)
        total += conv_params(channels, num_classes, 1)
    return total + conv_params(num_classes, num_classes, 2 * skip_reduction, bias=False)


@pytest.mark.parametrize(("name", "reduction"), [("fcn32s", 32), ("fcn16s", 16), ("fcn8s", 8)])
def test_paper_fcn_has_the_papers_layers(name: str, reduction: int) -> None:
    with torch.device("meta"):
        model = build_model(name, 21)
    count = sum(p.numel() for p in model.parameters())
    assert count == paper_fcn_params(reduction, 21)
    assert 134e6 < count < 136.2e6


def test_fcn8s_over_vgg16_has_134m_parameters() -> None:
    assert round(paper_fcn_params(8, 21) / 1e6) == 134


def test_fcn32s_upsamples_the_scores_bilinearly() -> None:
    """Away from the border the initial 32× transposed convolution is bilinear interpolation."""
    torch.manual_seed(0)
    model = build_model("fcn32s", 2, **SMALL).eval()
    captured = {}
    model.head.register_forward_hook(lambda _m, _i, out: captured.update(scores=out))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    expected = F.interpolate(captured["scores"], scale_factor=32, mode="bilinear")
    inner = (..., slice(16, -16), slice(16, -16))
    torch.testing.assert_close(out[inner], expected[inner])


def test_skip_score_layers_start_at_zero() -> None:
    with torch.device("meta"):
        model = build_model("fcn8s", 21)
    assert len(model.skips) == 2
    with torch.device("cpu"):
        model = build_model("fcn8s", 3, **SMALL)
    for skip in model.skips:
        assert not skip.score.weight.any() and not skip.score.bias.any()


@pytest.mark.parametrize("name", ["fcn16s", "fcn8s"])
def test_finer_fcns_start_from_the_fcn32s_output(name: str) -> None:
    """With zero score layers and the same encoder/fc weights, fcn16s/8s output what fcn32s
    does. Nearest upsampling makes this exact: 2× then 16× (or 2×, 2×, 8×) nearest is 32×
    nearest (bilinear steps do not compose into one bilinear step)."""
    torch.manual_seed(0)
    options = {**SMALL, "upsample": "nearest"}
    coarse = build_model("fcn32s", 3, **options).eval()
    fine = build_model(name, 3, **options).eval()
    missing, unexpected = fine.load_state_dict(coarse.state_dict(), strict=False)
    assert not unexpected and missing and all(key.startswith("skips.") for key in missing)
    x = torch.randn(2, 3, 45, 70)
    with torch.no_grad():
        assert torch.equal(fine(x), coarse(x))
        for skip in fine.skips:
            skip.score.bias.fill_(1.0)
        assert not torch.allclose(fine(x), coarse(x))


@pytest.mark.parametrize("name", NAMES)
def test_fcn_trains_keeps_any_size_and_is_deterministic_in_eval(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 3, **SMALL)
    x = torch.randn(1, 3, 97, 131)
    out = model(x)
    out.square().mean().backward()
    assert out.shape == (1, 3, 97, 131) and not torch.isnan(out).any()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.head.fc6.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        for h, w in [(1, 1), (33, 47)]:
            assert model(torch.randn(1, 3, h, w)).shape == (1, 3, h, w)


def test_default_vgg16_fcn8s_on_an_odd_input() -> None:
    torch.manual_seed(0)
    model = build_model("fcn8s", 5, fc_width=16).eval()
    assert model.config["encoder"] == "vgg16" and model.config["fusion"] == "sum"
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 131))
    assert out.shape == (1, 5, 97, 131) and torch.isfinite(out).all()


def test_concat_fusion_adds_a_1x1_conv_per_skip() -> None:
    torch.manual_seed(0)
    summed = build_model("fcn8s", 3, **SMALL)
    concat = build_model("fcn8s", 3, fusion="concat", **SMALL)
    extra = 2 * conv_params(2 * 3, 3, 1)
    count = sum(p.numel() for p in concat.parameters())
    assert count == sum(p.numel() for p in summed.parameters()) + extra
    with torch.no_grad():
        assert concat.eval()(torch.randn(1, 3, 33, 47)).shape == (1, 3, 33, 47)


@pytest.mark.parametrize("upsample", [m for m in UPSAMPLE_MODES if m != "unpool"])
def test_other_upsampling_modes(upsample: str) -> None:
    model = build_model("fcn8s", 3, upsample=upsample, **SMALL).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 33, 47)).shape == (1, 3, 33, 47)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"upsample": "unpool"}, "'unpool' needs max-pooling indices"),
        ({"fusion": "product"}, "unknown fusion 'product'"),
        ({"fc_kernel": 4}, "fc_kernel must be odd"),
        ({"encoder": "resnet"}, "unknown encoder 'resnet'"),
    ],
)
def test_bad_fcn_options_name_the_value(options: dict, fragment: str) -> None:
    with pytest.raises(PixelwiseError, match=fragment):
        build_model("fcn8s", 2, **{**SMALL, **options})

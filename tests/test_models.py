"""The model contract: any H×W in, logits at the same H×W out; config rebuilds the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.transforms import Normalization
from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model, list_models
from pixelwise.models.saving import ModelCard, load_model, save_model
from pixelwise.models.upsample import UPSAMPLE_MODES


def conv_params(cin: int, cout: int, k: int, bias: bool) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def paper_unet_params(in_channels: int, num_classes: int, base: int = 64, depth: int = 4) -> int:
    """Parameter count of the paper's U-Net (no BatchNorm), worked out layer by layer."""
    widths = [base * 2**i for i in range(depth + 1)]
    total = conv_params(in_channels, widths[0], 3, True)
    total += conv_params(widths[0], widths[0], 3, True)
    for i in range(depth):  # contracting path: two 3×3 convolutions per level
        total += conv_params(widths[i], widths[i + 1], 3, True)
        total += conv_params(widths[i + 1], widths[i + 1], 3, True)
    for i in range(depth):  # expanding path: 2×2 up-conv halving, then two 3×3 on the concat
        total += conv_params(widths[i + 1], widths[i], 2, True)
        total += conv_params(2 * widths[i], widths[i], 3, True)
        total += conv_params(widths[i], widths[i], 3, True)
    return total + conv_params(widths[0], num_classes, 1, True)


def test_paper_unet_has_the_papers_layers() -> None:
    model = build_model("unet", num_classes=2, in_channels=1, norm="none")
    assert sum(p.numel() for p in model.parameters()) == paper_unet_params(1, 2)
    assert model.config["base_width"] == 64 and model.config["depth"] == 4


def test_default_unet_keeps_odd_input_size() -> None:
    model = build_model("unet", num_classes=3).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 131))
    assert out.shape == (1, 3, 97, 131)


@pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_small_unet_variants_keep_size(upsample: str, fusion: str) -> None:
    options = {"base_width": 4, "depth": 3, "upsample": upsample, "fusion": fusion}
    model = build_model("unet", 5, in_channels=1, **options)
    for h, w in [(1, 1), (8, 8), (17, 30)]:
        assert model(torch.randn(2, 1, h, w)).shape == (2, 5, h, w)


def test_unaligned_input_is_padded_inside_and_cropped_back() -> None:
    """17×30 is padded (bottom/right, zeros) to 20×32 for depth 2, and the logits cropped back."""
    torch.manual_seed(0)
    model = build_model("unet", 2, base_width=4, depth=2).eval()
    x = torch.randn(1, 3, 17, 30)
    with torch.no_grad():
        direct = model(x)
        explicit = model(torch.nn.functional.pad(x, (0, 2, 0, 3)))[..., :17, :30]
    assert direct.shape == (1, 2, 17, 30)
    torch.testing.assert_close(direct, explicit)


def test_config_rebuilds_the_same_model() -> None:
    model = build_model("unet", 4, base_width=8, depth=2, upsample="bilinear")
    twin = build_model(**model.config)
    twin.load_state_dict(model.state_dict())
    assert twin.config == model.config
    x = torch.randn(1, 3, 20, 24)
    model.eval(), twin.eval()
    assert torch.equal(model(x), twin(x))


# A small sample of options per registered architecture; every registered name needs one.
SAMPLE_OPTIONS: dict[str, dict] = {
    "deeplabv3": {"encoder": "resnet18", "output_stride": 16, "separable": True},
    "deeplabv3plus": {"encoder": "mobilenet_v2", "output_stride": 8},
    "fcn32s": {"encoder": "resnet18", "fc_width": 16, "upsample": "pixel_shuffle"},
    "fcn16s": {"encoder": "mobilenet_v2", "fc_width": 16, "fc_kernel": 3, "fusion": "concat"},
    "fcn8s": {"encoder": "resnet18", "fc_width": 16, "upsample": "bed_of_nails"},
    "lraspp": {"encoder": "mobilenet_v2", "inter_channels": 16},
    "patch": {"width": 4, "hidden": 8, "patch_size": 19},
    "pspnet": {"encoder": "resnet18", "output_stride": 16, "channels": 16, "bins": [1, 2, 4]},
    "segnet": {"encoder": "vgg16", "upsample": "bilinear", "separable": True},
    "segnet_basic": {"width": 8, "depth": 3},
    "unet": {"encoder": "resnet18", "decoder_channels": [16, 8, 8, 4, 4], "fusion": "sum"},
}


def test_every_registered_model_has_a_sample() -> None:
    assert set(SAMPLE_OPTIONS) == set(list_models())


@pytest.mark.parametrize("name", sorted(SAMPLE_OPTIONS))
def test_every_model_keeps_odd_sizes_trains_and_is_deterministic(name: str, tmp_path: Path) -> None:
    """Forward 97×131, backward without NaN, eval twice equal, saved folder reloads it."""
    torch.manual_seed(0)
    model = build_model(name, 3, **SAMPLE_OPTIONS[name])
    x = torch.randn(2, 3, 97, 131)  # batch 2: BatchNorm after global pooling needs two
    model(x).square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        first, second = model(x[:1]), model(x[:1])
        info = DatasetInfo(("a", "b", "c"), default_colours(3), ignore_index=255, channels=3)
        save_model(tmp_path / name, model, ModelCard(model.config, info, Normalization.default(3)))
        rebuilt = load_model(tmp_path / name)[0](x[:1])
    assert first.shape == (1, 3, 97, 131)
    assert torch.isfinite(first).all()
    assert torch.equal(first, second) and torch.equal(first, rebuilt)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "unnet"}, "unknown model 'unnet'"),
        ({"name": "unet", "widht": 3}, "'widht'"),
        ({"name": "unet", "upsample": "cubic"}, "unknown upsample mode 'cubic'"),
        ({"name": "unet", "fusion": "product"}, "unknown fusion 'product'"),
        ({"name": "unet", "encoder": "resnet35"}, "unknown encoder 'resnet35'"),
        ({"name": "patch", "encoder": "resnet18"}, "does not take an encoder"),
        ({"name": "unet", "depth": 0}, "depth"),
    ],
)
def test_bad_model_arguments_name_the_value(kwargs: dict, fragment: str) -> None:
    with pytest.raises(PixelwiseError, match=fragment):
        build_model(num_classes=2, **kwargs)

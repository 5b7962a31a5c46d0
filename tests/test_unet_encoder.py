"""U-Net over an encoder: the decoder walks the encoder's maps; the paper's path is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.encoders import Encoder, build_encoder

SMALL = {"decoder_channels": (32, 16, 16, 8, 8)}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("encoder", ["resnet18", "resnet34", "vgg16", "mobilenet_v2"])
def test_encoder_unet_trains_and_predicts_on_odd_size(encoder: str) -> None:
    torch.manual_seed(0)
    model = build_model("unet", 4, encoder=encoder, **SMALL).train()
    x = torch.randn(1, 3, 97, 131)
    out = model(x)
    assert out.shape == (1, 4, 97, 131)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


def test_default_resnet34_unet_uses_the_default_decoder() -> None:
    model = build_model("unet", 2, encoder="resnet34")
    widths = [block.conv[1][0].out_channels for block in model.decoder]
    assert widths == [256, 128, 64, 32, 16]
    assert model.config["upsample"] == "transposed" and model.multiple == 32
    assert model.head.in_channels == 16


def test_concat_fusion_widens_and_sum_fusion_projects_the_skip() -> None:
    concat = build_model("unet", 2, encoder="resnet18", **SMALL)
    summed = build_model("unet", 2, encoder="resnet18", fusion="sum", **SMALL)
    skips = (256, 128, 64, 64)  # resnet18 maps from layer3 up to the /2 stem
    widths = SMALL["decoder_channels"]
    for width, skip, a, b in zip(widths, skips, concat.decoder, summed.decoder, strict=False):
        assert a.conv[0][0].in_channels == width + skip
        assert b.conv[0][0].in_channels == width
        assert (b.project.in_channels, b.project.out_channels) == (skip, width)
    assert isinstance(summed.decoder[-1].project, nn.Identity)  # the full-resolution block
    x = torch.randn(1, 3, 97, 131)
    assert summed.eval()(x).shape == (1, 2, 97, 131)


def test_sum_fusion_needs_no_projection_where_widths_match() -> None:
    model = build_model("unet", 2, encoder="resnet18", fusion="sum", decoder_channels=(256,) * 5)
    assert isinstance(model.decoder[0].project, nn.Identity)
    assert isinstance(model.decoder[1].project, nn.Conv2d)


@pytest.mark.parametrize(("output_stride", "upsampled"), [(16, 3), (8, 2)])
def test_dilated_encoder_skips_upsampling_between_equal_reductions(
    output_stride: int, upsampled: int
) -> None:
    torch.manual_seed(0)
    options = {"encoder": "resnet18", "output_stride": output_stride, **SMALL}
    model = build_model("unet", 3, **options).eval()
    assert model.multiple == output_stride
    blocks_with_skip = model.decoder[:-1]
    assert sum(block.up is not None for block in blocks_with_skip) == upsampled
    with torch.no_grad():
        assert model(torch.randn(1, 3, 97, 131)).shape == (1, 3, 97, 131)


def test_config_survives_json_and_rebuilds_the_model() -> None:
    torch.manual_seed(0)
    model = build_model("unet", 2, in_channels=1, encoder="resnet18", fusion="sum", **SMALL)
    twin = build_model(**json.loads(json.dumps(model.config)))
    twin.load_state_dict(model.state_dict())
    x = torch.randn(1, 1, 33, 47)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), twin.eval()(x))


def test_separable_decoder_has_fewer_parameters() -> None:
    plain = build_model("unet", 2, encoder="resnet18", **SMALL)
    separable = build_model("unet", 2, encoder="resnet18", separable=True, **SMALL)
    assert n_params(plain.encoder) == n_params(separable.encoder)
    assert n_params(separable) < n_params(plain)


def test_separable_paper_unet_keeps_its_shape_and_has_fewer_parameters() -> None:
    plain = build_model("unet", 2, base_width=8, depth=2)
    separable = build_model("unet", 2, base_width=8, depth=2, separable=True)
    assert n_params(separable) < n_params(plain)
    assert separable(torch.randn(2, 3, 17, 30)).shape == (2, 2, 17, 30)


def test_unpool_needs_pooling_indices_that_encoders_do_not_keep() -> None:
    with pytest.raises(PixelwiseError, match="unpool"):
        build_model("unet", 2, encoder="resnet18", upsample="unpool")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"encoder": "resnet18", "depth": 3}, "base_width and depth"),
        ({"output_stride": 16}, "output_stride and decoder_channels"),
        ({"encoder": "resnet18", "decoder_channels": (8, 8)}, "decoder_channels"),
    ],
)
def test_options_of_the_other_path_are_rejected(options: dict, fragment: str) -> None:
    with pytest.raises(PixelwiseError, match=fragment):
        build_model("unet", 2, **options)


def test_encoder_part_loads_imagenet_format_weights(tmp_path: Path) -> None:
    """``model.encoder`` is the Encoder; its keys are torchvision's under ``encoder.``."""
    torch.manual_seed(0)
    source = build_encoder("resnet18")
    checkpoint = {
        **source.state_dict(),
        "fc.weight": torch.zeros(1000, 512),
        "fc.bias": torch.zeros(1000),
    }
    torch.save(checkpoint, tmp_path / "resnet18.pth")
    pretrained = build_encoder("resnet18", weights=str(tmp_path / "resnet18.pth"))

    model = build_model("unet", 2, encoder="resnet18", **SMALL)
    assert isinstance(model.encoder, Encoder)
    encoder_keys = {k for k in model.state_dict() if k.startswith("encoder.")}
    assert encoder_keys == {f"encoder.{k}" for k in source.state_dict()}
    model.encoder.load_state_dict(pretrained.state_dict())
    torch.testing.assert_close(model.state_dict()["encoder.conv1.weight"], source.conv1.weight)

"""Model options: recorded as ``model.config`` and passed by keyword."""

from __future__ import annotations

import inspect

import torch

from pixelwise.models import build_model, list_models
from pixelwise.models.deeplab import DeepLabV3
from pixelwise.models.registry import _MODELS
from pixelwise.models.unet import build_unet


def builders() -> dict:
    list_models()  # imports every architecture
    return {name: builder for name, (builder, _) in _MODELS.items()}


def test_architectures_take_their_options_by_keyword_only() -> None:
    for name, builder in builders().items():
        kinds = {p.kind for p in inspect.signature(builder).parameters.values()}
        assert kinds == {inspect.Parameter.KEYWORD_ONLY}, name


def test_a_model_records_its_config_however_it_is_built() -> None:
    direct = DeepLabV3(num_classes=3, encoder="resnet18", output_stride=16)
    assert direct.config == build_model("deeplabv3", 3, encoder="resnet18", output_stride=16).config
    assert direct.config == {
        "name": "deeplabv3",
        "num_classes": 3,
        "in_channels": 3,
        "encoder": "resnet18",
        "output_stride": 16,
        "rates": None,
        "separable": False,
    }
    unet = build_unet(num_classes=2, base_width=4, depth=2)
    assert unet.config["name"] == "unet" and unet.config["base_width"] == 4
    with torch.device("meta"):
        on_meta = build_model(**unet.config)
    assert on_meta.config == unet.config
    assert all(p.is_meta for p in on_meta.parameters())

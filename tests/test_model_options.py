"""Model options: recorded as ``model.config``, passed by keyword, bounded in size."""

from __future__ import annotations

import inspect

import pytest
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model, list_models
from pixelwise.models.deeplab import DeepLabV3
from pixelwise.models.options import BOUNDS, MAX_PARAMETERS, parameter_count
from pixelwise.models.registry import _MODELS
from pixelwise.models.unet import build_unet

# Integer options that are choices rather than sizes, checked by the code that takes them.
NOT_SIZES = {"output_stride"}


def builders() -> dict:
    list_models()  # imports every architecture
    return {name: builder for name, (builder, _) in _MODELS.items()}


def test_every_size_option_of_every_architecture_has_a_bound() -> None:
    sizes = {
        parameter.name
        for builder in builders().values()
        for parameter in inspect.signature(builder).parameters.values()
        if "int" in str(parameter.annotation) and parameter.name not in NOT_SIZES
    }
    assert sizes == set(BOUNDS)


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


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("unet", {"base_width": 200000}, "base_width must be an integer in [1, 1024], got 200000"),
        ("unet", {"depth": 9}, "depth must be an integer in [1, 8], got 9"),
        ("unet", {"base_width": True}, "base_width must be an integer in [1, 1024], got True"),
        ("unet", {"base_width": 4.0}, "got 4.0"),
        ("unet", {"num_classes": 0}, "num_classes must be an integer in [1, 65536], got 0"),
        (
            "unet",
            {"encoder": "resnet18", "decoder_channels": [8] * 9},
            "decoder_channels must be a list of 1 to 8 values, each an integer in [1, 4096]",
        ),
        ("deeplabv3", {"encoder": "resnet18", "rates": [6, 200]}, "rates must be a list of 1 to 8"),
        ("deeplabv3", {"encoder": "resnet18", "rates": "6"}, "got '6'"),
        ("pspnet", {"encoder": "resnet18", "bins": []}, "bins must be a list of 1 to 8"),
        ("fcn8s", {"encoder": "resnet18", "fc_width": 10**6}, "fc_width must be an integer in"),
        ("lraspp", {"inter_channels": 0}, "inter_channels must be an integer in [1, 4096]"),
        ("patch", {"hidden": -1}, "hidden must be an integer in [1, 16384], got -1"),
        ("segnet_basic", {"kernel_size": 99}, "kernel_size must be an integer in [1, 15], got 99"),
    ],
)
def test_size_options_outside_their_bounds_are_user_errors(
    name: str, options: dict, message: str
) -> None:
    arguments = {"num_classes": 2, **options}
    with pytest.raises(PixelwiseError) as error:
        build_model(name, **arguments)
    assert str(error.value).startswith(f"model {name!r}: ") and message in str(error.value)


def test_options_within_bounds_that_make_a_huge_model_are_refused_without_building_it() -> None:
    with pytest.raises(PixelwiseError, match=r"model 'unet': the options give [\d,]+ parameters"):
        build_model("unet", 2, base_width=1024, depth=8)


@pytest.mark.parametrize(
    ("name", "options"),
    [("fcn8s", {"encoder": "resnet101"}), ("fcn8s", {}), ("fcn32s", {"encoder": "resnet50"})],
)
def test_the_largest_defaults_stay_under_the_parameter_limit(name: str, options: dict) -> None:
    with torch.device("meta"):
        model = build_model(name, 21, **options)
    assert 1e8 < parameter_count(model) < MAX_PARAMETERS

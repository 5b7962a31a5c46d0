"""Whole-model weights: safetensors and torchvision-keyed checkpoints, strictly checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.pretrained import load_model_weights

LRASPP = {"name": "lraspp", "num_classes": 3}
DEEPLAB = {"name": "deeplabv3", "num_classes": 3, "encoder": "resnet18", "output_stride": 16}
TORCHVISION_KEYS = Path(__file__).parent / "fixtures" / "torchvision_keys.json"
TORCHVISION_TWINS = {
    "deeplabv3_resnet50": {"name": "deeplabv3"},
    "deeplabv3_mobilenet_v3_large": {
        "name": "deeplabv3",
        "encoder": "mobilenet_v3_large",
        "output_stride": 16,
        "rates": [12, 24, 36],
    },
    "lraspp_mobilenet_v3_large": {"name": "lraspp"},
}


def randomised(options: dict, seed: int) -> nn.Module:
    """A model in eval mode whose BatchNorm statistics are random too (so they matter)."""
    torch.manual_seed(seed)
    model = build_model(**options)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def torchvision_key(key: str, prefixes: dict[str, str]) -> str:
    """Our ``key`` as torchvision names it (``prefixes``: torchvision's -> ours)."""
    for theirs, ours in prefixes.items():
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    return key


def torchvision_keyed(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict as torchvision names it, with an auxiliary head added."""
    prefixes = model.torchvision_prefixes()
    state = {torchvision_key(key, prefixes): value for key, value in model.state_dict().items()}
    return {**state, "aux_classifier.0.weight": torch.randn(8, 4, 3, 3)}


def assert_same(model: nn.Module, twin: nn.Module) -> None:
    for (key, value), (twin_key, twin_value) in zip(
        model.state_dict().items(), twin.state_dict().items(), strict=True
    ):
        assert key == twin_key and torch.equal(value, twin_value), key
    x = torch.randn(1, 3, 40, 50)
    with torch.no_grad():
        assert torch.equal(model(x), twin.eval()(x))


@pytest.mark.parametrize("twin", TORCHVISION_TWINS)
def test_layout_is_torchvisions_after_translation(twin: str) -> None:
    """Same keys in the same order with the same shapes, and the same parameter count."""
    expected = json.loads(TORCHVISION_KEYS.read_text())["segmentation"][twin]
    model = build_model(num_classes=21, **TORCHVISION_TWINS[twin])
    prefixes = model.torchvision_prefixes()
    layout = [
        (torchvision_key(key, prefixes), list(value.shape))
        for key, value in model.state_dict().items()
    ]
    assert layout == list(expected["state_dict"].items())
    assert sum(p.numel() for p in model.parameters()) == expected["num_params"]


@pytest.fixture(scope="module")
def lraspp() -> nn.Module:
    return randomised(LRASPP, seed=0)


def test_safetensors_round_trip(lraspp: nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_model(lraspp, str(path))
    twin = randomised(LRASPP, seed=1)
    assert load_model_weights(twin, path) is twin
    assert_same(lraspp, twin)
    assert_same(lraspp, build_model(**LRASPP, weights=path))


@pytest.mark.parametrize("wrapped", [False, True])
def test_torchvision_keyed_checkpoint_is_translated(
    lraspp: nn.Module, tmp_path: Path, wrapped: bool
) -> None:
    state = torchvision_keyed(lraspp)
    assert "backbone.16.0.weight" in state and "backbone.features.0.0.weight" not in state
    path = tmp_path / "lraspp.pth"
    torch.save({"model": state, "epoch": 3} if wrapped else state, path)
    twin = randomised(LRASPP, seed=1)
    load_model_weights(twin, path)
    assert_same(lraspp, twin)


def test_resnet_deeplab_checkpoint_drops_the_auxiliary_head(tmp_path: Path) -> None:
    model = randomised(DEEPLAB, seed=0)
    state = torchvision_keyed(model)
    assert "backbone.layer4.1.conv2.weight" in state
    torch.save(state, tmp_path / "deeplab.pt")
    twin = randomised(DEEPLAB, seed=1)
    load_model_weights(twin, tmp_path / "deeplab.pt")
    assert_same(model, twin)


def edited(state: dict[str, torch.Tensor], edit: str) -> dict[str, torch.Tensor]:
    state = dict(state)
    if edit == "missing":
        del state["classifier.low_classifier.bias"]
    elif edit == "unexpected":
        state["classifier.extra.weight"] = torch.zeros(1)
    elif edit == "shape":
        state["classifier.high_classifier.weight"] = torch.zeros(5, 128, 1, 1)
    else:  # many missing
        state = {k: v for k, v in state.items() if not k.startswith("backbone.1")}
    return state


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("missing", r"1 missing key: classifier\.low_classifier\.bias$"),
        ("unexpected", r"1 unexpected key: classifier\.extra\.weight$"),
        (
            "shape",
            r"1 shape mismatch: classifier\.high_classifier\.weight "
            r"\(file \(5, 128, 1, 1\), model \(3, 128, 1, 1\)\)$",
        ),
        ("many", r"\d+ missing keys: encoder\.features\.1\.[^;]*, … and \d+ more$"),
    ],
)
def test_mismatched_checkpoint_lists_the_keys(
    lraspp: nn.Module, tmp_path: Path, edit: str, message: str
) -> None:
    path = tmp_path / "bad.pth"
    torch.save(edited(torchvision_keyed(lraspp), edit), path)
    twin = randomised(LRASPP, seed=1)
    before = twin.classifier.low_classifier.weight.clone()
    with pytest.raises(PixelwiseError, match=message) as error:
        load_model_weights(twin, path)
    assert "bad.pth" in str(error.value)
    assert torch.equal(twin.classifier.low_classifier.weight, before)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.pth", None, "not found"),
        ("garbage.pth", b"not a checkpoint", "cannot read"),
        ("garbage.safetensors", b"not a checkpoint", "cannot read"),
        ("list.pth", [torch.zeros(1)], "holds no state dict"),
    ],
)
def test_unreadable_files_are_user_errors(
    lraspp: nn.Module, tmp_path: Path, name: str, content: object, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(PixelwiseError, match=message) as error:
        load_model_weights(lraspp, path)
    assert name in str(error.value)

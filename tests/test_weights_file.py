"""The one reader and checker of weight files, and the callers that go through it.

Readers: ``load_model`` (saved folders, also those saved before DeepLab and LR-ASPP
called their encoder ``encoder``), ``init_from`` and encoder weights.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.transforms import Normalization
from pixelwise.engine.transfer import init_from
from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.saving import ModelCard, load_model, save_model
from pixelwise.models.weights_file import check_fit, read_shapes, read_weights, unwrap

STATE = {"a.weight": torch.arange(6.0).view(2, 3), "a.bias": torch.ones(2)}


class Opaque:
    """Not a tensor: ``torch.load(weights_only=True)`` must refuse to unpickle it."""


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bare.pth", STATE),
        ("model.pt", {"model": STATE, "epoch": 3}),
        ("lightning.ckpt", {"state_dict": STATE, "optimizer_states": []}),
    ],
)
def test_torch_files_bare_or_wrapped_read_alike(tmp_path: Path, name: str, content: dict) -> None:
    torch.save(content, tmp_path / name)
    state = read_weights(tmp_path / name)
    assert list(state) == list(STATE)
    assert all(torch.equal(state[key], STATE[key]) for key in STATE)


def test_safetensors_read_whole_or_header_only(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file(STATE, path)
    state = read_weights(path)
    assert all(torch.equal(state[key], STATE[key]) for key in STATE)
    assert read_shapes(path) == {"a.weight": (2, 3), "a.bias": (2,)}


def test_nothing_but_tensors_is_unpickled(tmp_path: Path) -> None:
    torch.save({"a.weight": torch.zeros(1), "extra": Opaque()}, tmp_path / "pickled.pth")
    with pytest.raises(PixelwiseError, match=r"cannot read weights .*pickled\.pth"):
        read_weights(tmp_path / "pickled.pth")


@pytest.mark.parametrize(
    ("loaded", "accepted"),
    [
        (STATE, True),
        ({"model": STATE}, True),
        ({"state_dict": STATE}, True),
        ([torch.zeros(1)], False),
        ({"a": torch.zeros(1), "b": 3}, False),
        ({1: torch.zeros(1)}, False),
    ],
)
def test_unwrap_accepts_names_to_tensors_only(loaded: object, accepted: bool) -> None:
    if accepted:
        assert list(unwrap(loaded, "f.pth")) == list(STATE)
    else:
        with pytest.raises(PixelwiseError, match=r"'f.pth' holds no state dict"):
            unwrap(loaded, "f.pth")


@pytest.mark.parametrize("reader", [read_weights, read_shapes])
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.safetensors", b""),
        ("garbage.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json"),
        ("huge-header.safetensors", b"\xff" * 8 + b"{}"),
    ],
)
def test_broken_safetensors_name_the_file(tmp_path: Path, reader, name: str, data: bytes) -> None:
    path = write_bytes(tmp_path / name, data)
    with pytest.raises(PixelwiseError, match=re.escape(f"cannot read weights '{path}': ")):
        reader(path)


@pytest.mark.parametrize("reader", [read_weights, read_shapes])
def test_missing_file_is_named(tmp_path: Path, reader) -> None:
    with pytest.raises(PixelwiseError, match=re.escape(f"not found: '{tmp_path / 'w'}'")):
        reader(tmp_path / "w")


def test_check_fit_lists_every_kind_once_in_one_message() -> None:
    expected = {f"k{i}": (2,) for i in range(9)} | {"conv.weight": (4, 3, 3, 3)}
    found = {"conv.weight": (4, 1, 3, 3), "k0": (2,), "extra": (1,)}
    with pytest.raises(PixelwiseError) as error:
        check_fit(found, expected, source="w.pth", target="encoder 'x'")
    assert str(error.value) == (
        "weights 'w.pth' do not fit encoder 'x': "
        "8 missing keys: k1, k2, k3, k4, k5, … and 3 more; "
        "1 unexpected key: extra; "
        "1 shape mismatch: conv.weight (file (4, 1, 3, 3), model (4, 3, 3, 3))"
    )
    check_fit(expected, expected, source="w.pth", target="encoder 'x'")  # a fit passes


def randomised(model: nn.Module) -> nn.Module:
    """``model`` with random BatchNorm statistics (so that a lost buffer would show), in eval."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def saved(folder: Path, model: nn.Module) -> Path:
    classes = model.config["num_classes"]
    info = DatasetInfo(tuple(f"c{i}" for i in range(classes)), default_colours(classes))
    return save_model(folder, model, ModelCard(model.config, info, Normalization.default(3)))


FORMER_LAYOUT = {
    "deeplabv3plus": {"encoder": "resnet18", "output_stride": 16},
    "lraspp": {"encoder": "mobilenet_v2", "inter_channels": 8},
}


@pytest.mark.parametrize("name", FORMER_LAYOUT)
def test_folder_saved_when_the_encoder_was_called_backbone_loads(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = randomised(build_model(name, 3, **FORMER_LAYOUT[name]))
    folder = saved(tmp_path / "model", model)
    weights = folder / "model.safetensors"
    state = safetensors.torch.load_file(weights)
    former = {key.replace("encoder.", "backbone.", 1): value for key, value in state.items()}
    assert any(key.startswith("backbone.") for key in former)
    assert not any(key.startswith("encoder.") for key in former)
    safetensors.torch.save_file(former, weights)

    loaded, _ = load_model(folder)
    x = torch.randn(2, 3, 37, 45)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))

    torch.manual_seed(1)
    target = build_model(name, 5, **FORMER_LAYOUT[name])
    skipped = init_from(target, folder)
    assert not any(key.startswith("encoder.") for key in skipped)
    for key, value in target.encoder.state_dict().items():
        assert torch.equal(value, model.encoder.state_dict()[key]), key


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return saved(tmp_path_factory.mktemp("tiny") / "model", build_model("unet", 3, base_width=4))


@pytest.mark.parametrize("size", [0, 100])
def test_truncated_weights_are_user_errors_for_load_and_init_from(
    tiny: Path, tmp_path: Path, size: int
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:size])
    message = re.escape(f"cannot read weights '{weights}': ")
    with pytest.raises(PixelwiseError, match=message):
        load_model(folder)
    with pytest.raises(PixelwiseError, match=message):
        init_from(build_model("unet", 3, base_width=4), folder)

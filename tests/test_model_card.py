"""A saved model's card is checked against itself and its weights before any work is done.

Every broken folder must give one ``PixelwiseError`` naming the file and the key, through
``pixelwise.load`` and through ``pixelwise predict`` (exit 2, one ``error:`` line).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelwise
from pixelwise.cli import main
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.transforms import Normalization, check_scale
from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.saving import ModelCard, save_model

TINY_UNET = {"name": "unet", "num_classes": 3, "base_width": 4, "depth": 2}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net (3 channels, 3 classes) saved as a model folder; copy it before editing."""
    torch.manual_seed(0)
    model = build_model(**TINY_UNET)
    info = DatasetInfo(("a", "b", "c"), default_colours(3), channels=3)
    folder = tmp_path_factory.mktemp("card") / "model"
    return save_model(folder, model, ModelCard(model.config, info, Normalization.default(3)))


def edited_copy(saved: Path, tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    """A copy of ``saved`` whose ``config.json`` went through ``edit`` (in place on the dict)."""
    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    card = json.loads((folder / "config.json").read_text())
    edit(card)
    (folder / "config.json").write_text(json.dumps(card))
    return folder


def set_key(*path: str, value: object) -> Callable[[dict], None]:
    def edit(card: dict) -> None:
        target = card
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def two_classes(card: dict) -> None:
    """Drop the last class and its colour, and make the architecture agree."""
    card["classes"], card["colours"] = card["classes"][:2], card["colours"][:2]
    card["architecture"]["num_classes"] = 2


def one_channel(card: dict) -> None:
    """A grayscale card (normalisation included) over the weights of an RGB model."""
    card["channels"] = card["architecture"]["in_channels"] = 1
    card["normalization"] = {"mean": [0.45], "std": [0.23]}


def both(*edits: Callable[[dict], None]) -> Callable[[dict], None]:
    def edit(card: dict) -> None:
        for one in edits:
            one(card)

    return edit


# (edit of config.json, the fragments the one error line must hold besides the file's path)
BAD_CARDS = {
    "channels vs weights": (one_channel, ["channels (1) does not match the weights", "stem."]),
    "channels vs architecture": (
        set_key("channels", value=1),
        ["architecture.in_channels (3) differs from the card's channels (1)"],
    ),
    "classes vs weights": (two_classes, ["classes (2) does not match the weights", "head.weight"]),
    "classes vs architecture": (
        both(set_key("classes", value=["a", "b"]), set_key("colours", value=[[0, 0, 0]] * 2)),
        ["architecture.num_classes (3) differs from the card's classes (2)"],
    ),
    "classes vs colours": (
        set_key("colours", value=[[0, 0, 0]] * 2),
        ["classes and colours must have the same length"],
    ),
    "std zero": (
        set_key("normalization", "std", value=[0, 0, 0]),
        ["normalization.std must be a list of 3 positive finite numbers", "[0, 0, 0]"],
    ),
    "mean NaN": (
        set_key("normalization", "mean", value=[float("nan"), 0.5, 0.5]),
        ["normalization.mean must be a list of 3 finite numbers", "nan"],
    ),
    "mean per channel": (
        set_key("normalization", "mean", value=[0.5]),
        ["normalization.mean must be a list of 3 finite numbers (one per channel)"],
    ),
    "input_scale 1000": (
        set_key("input_scale", value=1000),
        ["input_scale must be a number in (0, 4], got 1000"],
    ),
    "input_scale 0": (set_key("input_scale", value=0), ["input_scale", "got 0"]),
    "input_scale -1": (set_key("input_scale", value=-1), ["input_scale", "got -1"]),
    "input_scale text": (set_key("input_scale", value="2"), ["input_scale", "got '2'"]),
    "base_width 200000": (
        set_key("architecture", "base_width", value=200000),
        ["architecture.base_width must be an integer in [1, 1024], got 200000"],
    ),
    "too many parameters": (
        both(
            set_key("architecture", "base_width", value=1024),
            set_key("architecture", "depth", value=8),
        ),
        ["parameters, more than the limit of 1,000,000,000"],
    ),
    "unknown option": (set_key("architecture", "widht", value=4), ["no option 'widht'"]),
    "unknown architecture": (set_key("architecture", "name", value="unnet"), ["'unnet'"]),
    "architecture without name": (
        set_key("architecture", value={"num_classes": 3}),
        ["architecture must be an object with a 'name'"],
    ),
    "missing key": (lambda card: card.pop("normalization"), ["missing key 'normalization'"]),
}


@pytest.mark.parametrize("case", BAD_CARDS)
def test_bad_card_is_one_error_naming_the_file_and_key(
    saved: Path, tmp_path: Path, case: str
) -> None:
    edit, fragments = BAD_CARDS[case]
    folder = edited_copy(saved, tmp_path, edit)
    with pytest.raises(PixelwiseError) as error:
        pixelwise.load(folder, device="cpu")
    message = str(error.value)
    assert f"invalid model config '{folder / 'config.json'}'" in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_a_changed_size_option_is_a_shape_mismatch_naming_the_weights(
    saved: Path, tmp_path: Path
) -> None:
    folder = edited_copy(saved, tmp_path, set_key("architecture", "base_width", value=8))
    with pytest.raises(PixelwiseError) as error:
        pixelwise.load(folder)
    message = str(error.value)
    assert f"weights '{folder / 'model.safetensors'}' do not fit the model of" in message
    assert "shape mismatches: stem.0.0.weight (file (4, 3, 3, 3), model (8, 3, 3, 3))" in message


@pytest.mark.parametrize("size", [0, 100])
def test_truncated_weights_name_the_file(saved: Path, tmp_path: Path, size: int) -> None:
    folder = edited_copy(saved, tmp_path, lambda card: None)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:size])
    with pytest.raises(PixelwiseError, match="cannot read weights") as error:
        pixelwise.load(folder)
    assert f"'{weights}'" in str(error.value)


def test_weights_cut_inside_the_tensor_data_name_the_file(saved: Path, tmp_path: Path) -> None:
    folder = edited_copy(saved, tmp_path, lambda card: None)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 16])
    with pytest.raises(PixelwiseError, match=f"cannot read weights '{weights}'"):
        pixelwise.load(folder)


def test_the_intact_folder_loads_and_the_edge_values_pass(saved: Path, tmp_path: Path) -> None:
    edit = set_key("input_scale", value=4)
    segmenter = pixelwise.load(edited_copy(saved, tmp_path, edit), device="cpu")
    assert segmenter.card.input_scale == 4.0
    assert check_scale(4) == 4.0  # the card's range is data.scale's
    with pytest.raises(PixelwiseError):
        check_scale(4.01)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "img.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)
    return path


def broken_folder(saved: Path, tmp_path: Path, case: str) -> tuple[Path, list[str]]:
    """A copy of ``saved`` broken as ``case`` (a :data:`BAD_CARDS` key, or ``"weights"``:
    an empty weights file) and fragments of the one error line it must give."""
    if case == "weights":
        folder = edited_copy(saved, tmp_path, lambda card: None)
        (folder / "model.safetensors").write_bytes(b"")
        return folder, [f"error: cannot read weights '{folder / 'model.safetensors'}': "]
    edit, fragments = BAD_CARDS[case]
    folder = edited_copy(saved, tmp_path, edit)
    return folder, [f"error: invalid model config '{folder / 'config.json'}': ", *fragments]


@pytest.mark.parametrize("case", [*BAD_CARDS, "weights"])
def test_predict_refuses_a_broken_folder_with_one_error_line(
    saved: Path, tmp_path: Path, image: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    folder, fragments = broken_folder(saved, tmp_path, case)
    out = tmp_path / "out"
    assert main(["predict", str(folder), str(image), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("error")]
    assert line.startswith(fragments[0]) and all(f in line for f in fragments), line
    assert not out.exists()


@pytest.mark.parametrize("case", ["base_width 200000", "weights"])
def test_predict_command_exits_2_with_one_error_line(
    saved: Path, tmp_path: Path, image: Path, case: str
) -> None:
    """``python -m pixelwise predict FOLDER img.png --out OUT`` as a user runs it."""
    folder, fragments = broken_folder(saved, tmp_path, case)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pixelwise", "predict", str(folder), str(image), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(fragments[0]) and all(f in line for f in fragments), line
    assert not out.exists()

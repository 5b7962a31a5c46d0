"""Training at a working scale: resized pairs in training, full-size predictions after."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.nn import functional as F

import pixelwise
from pixelwise.cli import main
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.data.transforms import Normalization, TensorDataset, rescale_image, rescale_mask
from pixelwise.models.saving import ModelCard, save_model
from tiny_run import TINY as CLI_TINY


def test_halving_a_doubled_image_recovers_it() -> None:
    small = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    doubled = small.repeat(2, axis=0).repeat(2, axis=1)
    np.testing.assert_array_equal(rescale_image(doubled, 0.5), small)


def test_mask_is_resized_by_nearest_neighbour() -> None:
    mask = np.random.default_rng(1).integers(0, 4, (9, 13))
    mask[0, 0] = 255
    halved = rescale_mask(mask, 0.5)
    assert halved.shape == (4, 6)  # round(4.5) = 4 (half to even), round(6.5) = 6
    assert set(np.unique(halved)) <= set(np.unique(mask))
    np.testing.assert_array_equal(rescale_mask(mask, 2.0)[::2, ::2], mask)


def test_tensor_dataset_yields_pairs_at_the_working_scale() -> None:
    data = SyntheticShapes(num_images=2, size=32, seed=0)
    image, mask = TensorDataset(data, Normalization.default(3), scale=0.5)[0]
    assert image.shape == (3, 16, 16) and mask.shape == (16, 16)


def test_segmenter_predicts_at_full_size_through_the_working_scale(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = pixelwise.build_model("unet", 3, base_width=4, depth=2).eval()
    info = DatasetInfo(("a", "b", "c"), default_colours(3))
    card = ModelCard(model.config, info, Normalization.default(3), input_scale=0.5)
    save_model(tmp_path / "m", model, card)
    segmenter = pixelwise.load(tmp_path / "m", device="cpu")
    small = np.random.default_rng(2).integers(0, 256, (11, 15, 3), dtype=np.uint8)
    image = small.repeat(2, axis=0).repeat(2, axis=1)
    with torch.no_grad():
        scores = model(Normalization.default(3).to_tensor(small)[None])
    expected = F.interpolate(scores, size=(22, 30), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(segmenter.logits(image), expected, rtol=0, atol=0)
    assert segmenter.predict(image).shape == (22, 30)


# the command-line tests' tiny run, at half scale
TINY = {**CLI_TINY, "data": {**CLI_TINY["data"], "scale": 0.5}}


def test_a_run_at_half_scale_is_evaluated_at_full_size(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    card = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert card["input_scale"] == 0.5
    metrics = json.loads((tmp_path / "run" / "eval-val" / "metrics.json").read_text())
    assert metrics["num_pixels"] == 3 * 32 * 32


@pytest.mark.parametrize("scale", [0, -0.5, 5])
def test_a_bad_scale_is_a_clear_error(
    scale: float, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "data": {**TINY["data"], "scale": scale}}))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert f"data.scale must be a number in (0, 4], got {scale}" in capsys.readouterr().err

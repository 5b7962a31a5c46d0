"""The data module's loaders: repeated training epochs, whole validation images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pixelwise.config import DataSection, RunConfig
from pixelwise.data.batching import PaddedBatches
from pixelwise.data.folder import folder_dataset
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.data.transforms import Normalization
from pixelwise.engine.datamodule import SegmentationDataModule
from pixelwise.errors import PixelwiseError


def data_module(train_repeats: int) -> SegmentationDataModule:
    train = SyntheticShapes("train", num_images=6, size=16, seed=0)
    val = SyntheticShapes("val", num_images=3, size=16, seed=0)
    options = DataSection(batch_size=4, crop=[8, 8], train_repeats=train_repeats)
    return SegmentationDataModule(
        train, val, Normalization.default(3), options, num_workers=0, seed=0
    )


def test_train_repeats_draws_every_image_that_many_times_per_epoch() -> None:
    once, thrice = data_module(1), data_module(3)
    assert len(thrice.train_set) == 3 * len(once.train_set) == 18
    assert len(thrice.train_dataloader()) == 18 // 4  # whole batches only
    assert len(thrice.val_dataloader()) == 3  # validation is not repeated


def test_train_repeats_below_one_is_a_user_error() -> None:
    with pytest.raises(PixelwiseError, match=r"data.train_repeats must be an integer >= 1, got 0"):
        RunConfig.from_dict({"data": {"train_repeats": 0}})


def test_images_of_different_sizes_are_padded_and_the_padding_is_ignored() -> None:
    ignore = 255
    small = (torch.randn(3, 2, 3), torch.tensor([[0, 1, 1], [1, 0, 2]]))
    large = (torch.randn(3, 4, 2), torch.tensor([[2, 2], [0, 1], [1, 1], [0, 0]]))
    images, masks = PaddedBatches(ignore)([small, large])
    assert images.shape == (2, 3, 4, 3) and masks.shape == (2, 4, 3)
    assert torch.equal(images[0, :, :2, :3], small[0]) and torch.equal(masks[1, :, :2], large[1])
    assert (images[0, :, 2:] == 0).all() and (images[1, :, :, 2:] == 0).all()
    assert (masks[0, 2:] == ignore).all() and (masks[1, :, 2:] == ignore).all()
    # The loss over the padded batch is the loss over the real pixels only.
    logits = torch.randn(2, 3, 4, 3)
    padded = F.cross_entropy(logits, masks, ignore_index=ignore, reduction="sum")
    real = F.cross_entropy(
        logits[0:1, :, :2, :3], small[1][None], reduction="sum"
    ) + F.cross_entropy(logits[1:2, :, :, :2], large[1][None], reduction="sum")
    assert torch.isclose(padded, real)


def test_a_folder_of_mixed_sizes_makes_training_batches_without_a_crop(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    for index, (height, width) in enumerate([(20, 24), (16, 16), (24, 12), (16, 20)]):
        Image.fromarray(rng.integers(0, 255, (height, width, 3), np.uint8)).save(
            tmp_path / "images" / f"{index}.png"
        )
        Image.fromarray(rng.integers(0, 2, (height, width), np.uint8)).save(
            tmp_path / "masks" / f"{index}.png"
        )
    dataset = folder_dataset(tmp_path / "images", tmp_path / "masks", classes=["a", "b"])
    options = DataSection(batch_size=4, augment=[])
    module = SegmentationDataModule(
        dataset, dataset, Normalization.default(3), options, num_workers=0, seed=0
    )
    images, masks = next(iter(module.train_dataloader()))
    assert images.shape == (4, 3, 24, 24) and masks.shape == (4, 24, 24)
    assert (masks == dataset.info.ignore_index).sum() == 4 * 24 * 24 - (480 + 256 + 288 + 320)

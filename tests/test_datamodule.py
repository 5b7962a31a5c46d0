"""The data module's loaders: repeated training epochs, whole validation images."""

from __future__ import annotations

import pytest

from pixelwise.config import DataSection, RunConfig
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

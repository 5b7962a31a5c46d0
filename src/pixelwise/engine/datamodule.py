"""The Lightning data module: training and validation loaders over pixelwise datasets."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from pixelwise.data.augment import Step, build_augmentation
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.transforms import Normalization, TensorDataset
from pixelwise.errors import PixelwiseError


def default_workers(accelerator_is_gpu: bool) -> int:
    """Loader processes: none on the CPU (compute uses the cores), up to 8 beside a GPU."""
    if not accelerator_is_gpu:
        return 0
    return min(8, torch.multiprocessing.cpu_count())


class SegmentationDataModule(pl.LightningDataModule):
    """Shuffled, augmented training batches; whole validation images one at a time.

    ``augment`` is a list of steps for :func:`pixelwise.data.augment.build_augmentation`
    (``None``: random crop and horizontal flip). Validation images are not augmented and
    keep their own sizes, so the validation batch size is 1. Loader processes stay alive
    across epochs when ``num_workers > 0``; ``pin_memory`` is for training on CUDA.
    ``train_repeats`` makes one epoch draw every training image that many times.
    ``scale`` resizes training and validation pairs to the working resolution first.
    """

    def __init__(
        self,
        train: SegmentationDataset,
        val: SegmentationDataset,
        normalization: Normalization,
        batch_size: int,
        crop: tuple[int, int] | None,
        num_workers: int,
        seed: int,
        augment: list[Step] | None = None,
        pin_memory: bool = False,
        train_repeats: int = 1,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        if train_repeats < 1:
            raise PixelwiseError(f"train_repeats must be at least 1, got {train_repeats}")
        augmentation = build_augmentation(augment, crop, train.info.ignore_index, seed)
        self.train_set: Dataset = TensorDataset(train, normalization, augmentation, scale)
        if train_repeats > 1:
            self.train_set = ConcatDataset([self.train_set] * train_repeats)
        self.val_set = TensorDataset(val, normalization, scale=scale)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=shuffle and len(dataset) > batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, 1, shuffle=False)

"""The Lightning data module: training and validation loaders over pixelwise datasets."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from pixelwise.config import DataSection
from pixelwise.data.augment import build_augmentation
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.transforms import Normalization, TensorDataset


def default_workers(accelerator_is_gpu: bool) -> int:
    """Loader processes: none on the CPU (compute uses the cores), up to 8 beside a GPU."""
    if not accelerator_is_gpu:
        return 0
    return min(8, torch.multiprocessing.cpu_count())


class SegmentationDataModule(pl.LightningDataModule):
    """Shuffled, augmented training batches; whole validation images one at a time.

    ``options`` (the run's data section) gives the batch size, the training crop, the
    augmentation steps (:func:`pixelwise.data.augment.build_augmentation`; ``None`` is a
    random crop and a horizontal flip), ``train_repeats`` (one epoch draws every training
    image that many times) and ``scale`` (pairs resized to the working resolution first).
    Validation images are not augmented and keep their own sizes, so the validation batch
    size is 1. Loader processes stay alive across epochs when ``num_workers > 0``;
    ``pin_memory`` is for training on CUDA.
    """

    def __init__(
        self,
        train: SegmentationDataset,
        val: SegmentationDataset,
        normalization: Normalization,
        options: DataSection,
        num_workers: int,
        seed: int,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        crop = tuple(options.crop) if options.crop else None
        augmentation = build_augmentation(options.augment, crop, train.info.ignore_index, seed)
        self.train_set: Dataset = TensorDataset(train, normalization, augmentation, options.scale)
        if options.train_repeats > 1:
            self.train_set = ConcatDataset([self.train_set] * options.train_repeats)
        self.val_set = TensorDataset(val, normalization, scale=options.scale)
        self.batch_size = options.batch_size
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

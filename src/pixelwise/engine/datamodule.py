"""The Lightning data module: training and validation loaders over pixelwise datasets."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from tqdm.auto import tqdm

from pixelwise.config import DataSection
from pixelwise.data.augment import build_augmentation
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.batching import PaddedBatches
from pixelwise.data.cache import MemoryBudget, PairCache
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
    size is 1. Training images of different sizes (no crop) are padded to the largest of
    their batch, the padding ignored (:mod:`pixelwise.data.batching`). Every pair is
    decoded once, at the working scale, and kept in memory within ``options.cache_mb``
    (:mod:`pixelwise.data.cache`). Loader processes stay alive across epochs when
    ``num_workers > 0``; ``pin_memory`` is for training on CUDA.
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
        progress: bool = False,
    ) -> None:
        super().__init__()
        crop = tuple(options.crop) if options.crop else None
        ignore = train.info.ignore_index
        augmentation = build_augmentation(options.augment, crop, ignore, seed)
        self.budget = MemoryBudget(int(options.cache_mb * 2**20))
        self.scaled = [
            TensorDataset(train, normalization, augmentation, options.scale,
                          PairCache(self.budget, ignore)),
            TensorDataset(val, normalization, None, options.scale,
                          PairCache(self.budget, ignore)),
        ]  # fmt: skip
        self.train_set: Dataset = self.scaled[0]
        if options.train_repeats > 1:
            self.train_set = ConcatDataset([self.train_set] * options.train_repeats)
        self.val_set = self.scaled[1]
        self.progress = progress
        self.batch_size = options.batch_size
        self.collate = PaddedBatches(ignore)
        self.num_workers = num_workers
        self.pin_memory = pin_memory

    def setup(self, stage: str) -> None:
        """Decode every pair once, into the caches, before the loaders start (their
        processes then share the arrays)."""
        for dataset, name in zip(self.scaled, ("training", "validation"), strict=True):
            for index in tqdm(range(len(dataset)), desc=f"decoding {name} images",
                              disable=not self.progress, leave=False):  # fmt: skip
                if self.budget.full:
                    return
                dataset.scaled_pair(index)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=self.collate,
            drop_last=shuffle and len(dataset) > batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, 1, shuffle=False)

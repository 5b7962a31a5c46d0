"""From uint8 arrays to model tensors: optional augmentation, then normalisation."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from pixelwise.data.base import SegmentationDataset

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(x / 255 - mean) / std``; stored with every saved model."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def default(cls, channels: int) -> Normalization:
        """ImageNet statistics for RGB; their channel average for grayscale."""
        if channels == 3:
            return cls(IMAGENET_MEAN, IMAGENET_STD)
        return cls((sum(IMAGENET_MEAN) / 3,) * channels, (sum(IMAGENET_STD) / 3,) * channels)

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """``(H, W, C)`` uint8 -> ``(C, H, W)`` float32, normalised."""
        pixels = np.require(image, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])
        x = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        return x.sub_(mean).div_(std)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(tuple(d["mean"]), tuple(d["std"]))


class TensorDataset(Dataset):
    """Wrap a :class:`SegmentationDataset`: optional augmentation, then tensors.

    ``self[i]`` is ``(image (C, H, W) float32 normalised, mask (H, W) int64)``.
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        normalization: Normalization,
        augmentation: A.Compose | None = None,
    ) -> None:
        self.dataset = dataset
        self.normalization = normalization
        self.augmentation = augmentation

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.dataset[index]
        if self.augmentation is not None:
            out = self.augmentation(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return self.normalization.to_tensor(image), torch.from_numpy(
            np.ascontiguousarray(mask)
        ).long()

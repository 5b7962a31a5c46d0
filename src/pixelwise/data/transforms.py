"""From uint8 arrays to model tensors: optional augmentation, then normalisation."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from pixelwise.config import WORKING_SCALE
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.cache import PairCache
from pixelwise.options import checked

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A
import cv2

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
        """``(H, W, C)`` uint8 -> ``(C, H, W)`` float32 contiguous, normalised:
        ``(x / 255 - mean) / std`` computed as ``x · (1 / (255 std)) - mean / std``, in
        three passes (convert, multiply, subtract)."""
        pixels = np.require(image, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])
        planes = torch.from_numpy(pixels).permute(2, 0, 1)
        scale = torch.tensor([1 / (255 * s) for s in self.std], dtype=torch.float32)
        shift = torch.tensor([m / s for m, s in zip(self.mean, self.std, strict=True)])
        x = torch.empty(planes.shape).copy_(planes)
        return x.mul_(scale.view(-1, 1, 1)).sub_(shift.view(-1, 1, 1))

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(tuple(d["mean"]), tuple(d["std"]))


def check_scale(scale: float) -> float:
    """A working-resolution factor (see :data:`pixelwise.config.WORKING_SCALE`), as a float."""
    return checked(WORKING_SCALE, scale, "data.scale")


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(H, W)`` times ``scale``, rounded, at least 1 pixel each."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def rescale_image(image: np.ndarray, scale: float) -> np.ndarray:
    """``(H, W, C)`` uint8 -> ``(H*scale, W*scale, C)`` uint8: area averaging down, bilinear up."""
    if scale == 1:
        return image
    height, width = scaled_size(*image.shape[:2], scale)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (width, height), interpolation=interpolation)
    return resized.reshape(height, width, image.shape[2])


def rescale_mask(mask: np.ndarray, scale: float) -> np.ndarray:
    """``(H, W)`` labels -> ``(H*scale, W*scale)`` by nearest neighbour (labels never blend)."""
    if scale == 1:
        return mask
    height, width = scaled_size(*mask.shape, scale)
    return cv2.resize(mask.astype(np.int32), (width, height), interpolation=cv2.INTER_NEAREST)


class TensorDataset(Dataset):
    """Wrap a :class:`SegmentationDataset`: working scale, optional augmentation, then tensors.

    ``scale`` resizes every pair first (see :func:`rescale_image`, :func:`rescale_mask`);
    with a ``cache`` (:class:`~pixelwise.data.cache.PairCache`), each pair is decoded and
    resized once, then taken from memory. ``self[i]`` is ``(image (C, H, W) float32
    normalised, mask (H, W) int64)``.
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        normalization: Normalization,
        augmentation: A.Compose | None = None,
        scale: float = 1.0,
        cache: PairCache | None = None,
    ) -> None:
        self.dataset = dataset
        self.normalization = normalization
        self.augmentation = augmentation
        self.scale = check_scale(scale)
        self.cache = cache

    def __len__(self) -> int:
        return len(self.dataset)

    def scaled_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``index`` at the working scale, before augmentation (kept by the cache)."""
        kept = self.cache.get(index) if self.cache is not None else None
        if kept is not None:
            return kept
        image, mask = self.dataset[index]
        image, mask = rescale_image(image, self.scale), rescale_mask(mask, self.scale)
        return (image, mask) if self.cache is None else self.cache.put(index, image, mask)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.scaled_pair(index)
        if self.augmentation is not None:
            out = self.augmentation(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return self.normalization.to_tensor(image), torch.from_numpy(mask.astype(np.int64))

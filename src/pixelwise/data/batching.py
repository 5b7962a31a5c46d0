"""Training batches of images of different sizes: padded to the largest, padding ignored.

Without a training crop, a folder of images of several sizes cannot be stacked into one
batch. :class:`PaddedBatches` pads each image of a batch at the bottom and right to the
batch's largest height and width: image channels with 0 (the data's mean, once
normalised) and masks with the ignore index, so that no loss counts a padded pixel. The
first time it pads, it says so in the log.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

logger = logging.getLogger("pixelwise")


class PaddedBatches:
    """``collate_fn`` for a training loader; ``ignore_index`` fills padded mask pixels."""

    def __init__(self, ignore_index: int) -> None:
        self.ignore_index = ignore_index
        self.warned = False

    def __call__(
        self, samples: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``samples``: (image ``(C, H_i, W_i)`` float, mask ``(H_i, W_i)`` int64) pairs.
        Returns images ``(N, C, H, W)`` and masks ``(N, H, W)``, H and W the largest."""
        height = max(image.shape[-2] for image, _ in samples)
        width = max(image.shape[-1] for image, _ in samples)
        if not self.warned and any(image.shape[-2:] != (height, width) for image, _ in samples):
            logger.warning(
                "training images differ in size and no crop is set: each batch is padded to "
                "its largest image, and the padding is ignored (set --crop H W to train on "
                "crops)"
            )
            self.warned = True
        images = [_pad(image, height, width, 0.0) for image, _ in samples]
        masks = [_pad(mask, height, width, self.ignore_index) for _, mask in samples]
        return torch.stack(images), torch.stack(masks)


def _pad(tensor: torch.Tensor, height: int, width: int, value: float) -> torch.Tensor:
    """``tensor`` (..., h, w) padded at the bottom and right to (..., height, width)."""
    bottom, right = height - tensor.shape[-2], width - tensor.shape[-1]
    if bottom == 0 and right == 0:
        return tensor
    return F.pad(tensor, (0, right, 0, bottom), value=value)

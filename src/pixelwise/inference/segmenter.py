"""``Segmenter``: a trained model together with its pre- and post-processing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from pixelwise.data.base import DatasetInfo, SegmentationDataset
from pixelwise.data.io import read_image
from pixelwise.data.transforms import rescale_image
from pixelwise.errors import PixelwiseError
from pixelwise.export.runtime import GraphRunner
from pixelwise.inference.backends import Backend, eager_backend, load_runnable
from pixelwise.metrics.inputs import predicted_labels
from pixelwise.models.saving import Card

if TYPE_CHECKING:
    from pixelwise.classical import ClassicalMethod

ImageLike = str | Path | Image.Image | np.ndarray


def as_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` uint8 -> ``(H, W, channels)`` uint8 (RGB <-> luma as needed)."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.dtype != np.uint8:
        raise PixelwiseError(
            f"expected an (H, W) or (H, W, C) uint8 image, got shape {image.shape} {image.dtype}"
        )
    have = image.shape[2]
    if have == 4:
        image, have = image[:, :, :3], 3
    if have == channels:
        return image
    if have == 1:
        return np.repeat(image, channels, axis=2)
    if have == 3 and channels == 1:
        return np.asarray(Image.fromarray(image).convert("L"))[:, :, None]
    raise PixelwiseError(f"cannot convert a {have}-channel image to {channels} channels")


class Segmenter:
    """Predict per-pixel class labels for images of any size.

    It wraps a network (``model``, with :meth:`logits`), an exported graph's runner, or
    a fitted classical method (``method``, labels only). ``predict`` takes a path, a PIL
    image or a uint8 array ``(H, W[, C])`` and returns ``(H, W)`` labels: uint8 when
    there are at most 256 classes, else int32.

    ``backend`` (see :mod:`pixelwise.inference.backends`) runs a network: ``torch`` by
    default; an exported graph's runner is its own backend.
    """

    def __init__(
        self,
        model: nn.Module | GraphRunner | ClassicalMethod,
        card: Card,
        device: str | torch.device | None = None,
        backend: str | None = None,
    ):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.card = card
        self.method: ClassicalMethod | None = None
        self.model: nn.Module | None = None
        self.backend: Backend | None = None
        if isinstance(model, nn.Module):
            self.model = model.to(self.device).eval()
            self.backend = eager_backend(backend or "torch", self.model, card.info.channels)
        elif isinstance(model, GraphRunner):
            if backend not in (None, model.name):
                raise PixelwiseError(f"this exported graph runs on {model.name}, not {backend}")
            self.backend = model
        elif backend is not None:
            raise PixelwiseError(f"backend {backend!r} runs networks; this is a classical method")
        else:
            self.method = model

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        backend: str | None = None,
    ) -> Segmenter:
        """Load a saved-model folder, a run directory (a network or a classical method) or
        an exported folder, to run on ``backend``."""
        model, card = load_runnable(path, backend)
        return cls(model, card, device, backend)

    def with_oracle_mapping(self, dataset: SegmentationDataset, progress: bool = True) -> Segmenter:
        """A classical method's ids remapped one-to-one on ``dataset`` (an oracle; see
        :meth:`~pixelwise.classical.ClassicalMethod.with_oracle_mapping`)."""
        if self.method is None:
            raise PixelwiseError(
                "the oracle mapping applies to classical methods only; this is a network"
            )
        return Segmenter(self.method.with_oracle_mapping(dataset, progress), self.card, self.device)

    @property
    def info(self) -> DatasetInfo:
        return self.card.info

    def to_array(self, image: ImageLike) -> np.ndarray:
        """Any accepted image form -> ``(H, W, channels)`` uint8 for this model."""
        channels = self.info.channels
        if isinstance(image, (str, Path)):
            return read_image(image, channels=channels)
        if isinstance(image, Image.Image):
            image = np.asarray(image.convert("RGB" if channels == 3 else "L"))
        return as_channels(np.asarray(image), channels)

    @torch.inference_mode()
    def logits(self, image: ImageLike) -> torch.Tensor:
        """Raw class scores ``(num_classes, H, W)`` float32 on the model's device.

        A model trained at a working scale sees the image resized by it; its scores are
        resized back to the image's ``H × W`` bilinearly.
        """
        if self.backend is None:
            raise PixelwiseError("a classical method gives class labels, not class scores")
        pixels = self.to_array(image)
        scale = self.card.input_scale
        x = self.card.normalization.to_tensor(rescale_image(pixels, scale))
        scores = self.backend(x[None].to(self.device)).float()
        if scale != 1:
            scores = F.interpolate(
                scores, size=pixels.shape[:2], mode="bilinear", align_corners=False
            )
        return scores[0]

    def labels(self, image: ImageLike) -> torch.Tensor:
        """Class labels ``(H, W)`` int64: a network's argmax of :meth:`logits` (on its
        device), or a classical method's prediction (on the CPU)."""
        if self.method is not None:
            return torch.from_numpy(self.method.predict(self.to_array(image)))
        scores = self.logits(image)[None]
        return predicted_labels(scores, self.info.num_classes, torch.int64)[0]

    def predict(self, image: ImageLike) -> np.ndarray:
        """Class labels ``(H, W)`` for one image."""
        labels = self.labels(image).cpu().numpy()
        return labels.astype(np.uint8 if self.info.num_classes <= 256 else np.int32)


def load(
    path: str | Path, device: str | torch.device | None = None, backend: str | None = None
) -> Segmenter:
    """Load a saved model (or the model of a run directory, or an exported folder) as a
    :class:`Segmenter` running on ``backend``."""
    return Segmenter.load(path, device, backend)

"""``Segmenter``: a trained model together with its pre- and post-processing."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from pixelwise.data.base import DatasetInfo, SegmentationDataset
from pixelwise.data.reader import PixelScaling, ReadOptions, as_channels, read_image
from pixelwise.data.regions import ArraySource
from pixelwise.data.transforms import rescale_image, scaled_size
from pixelwise.errors import PixelwiseError
from pixelwise.export.runtime import GraphRunner
from pixelwise.inference.backends import Backend, eager_backend, load_runnable
from pixelwise.inference.memory import activation_bytes_per_pixel, whole_image_bytes
from pixelwise.inference.threads import torch_threads
from pixelwise.inference.tiling import TileOptions, predict_tiled
from pixelwise.inference.tta import TTA, tta_probabilities
from pixelwise.metrics.inputs import predicted_labels
from pixelwise.models.registry import build_model
from pixelwise.models.saving import Card, ModelCard

if TYPE_CHECKING:
    from pixelwise.classical import ClassicalMethod

ImageLike = str | Path | Image.Image | np.ndarray
logger = logging.getLogger(__name__)
Params = ParamSpec("Params")
Result = TypeVar("Result")


def _in_own_threads(
    method: Callable[Concatenate[Segmenter, Params], Result],
) -> Callable[Concatenate[Segmenter, Params], Result]:
    """A Segmenter ``method`` that runs inside :meth:`Segmenter.own_threads`."""

    @functools.wraps(method)
    def run(self: Segmenter, *args: Params.args, **kwargs: Params.kwargs) -> Result:
        with self.own_threads():
            return method(self, *args, **kwargs)

    return run


def label_dtype(num_classes: int) -> np.dtype:
    """The smallest label dtype for ``num_classes``: uint8 up to 256 classes, else uint16."""
    return np.dtype(np.uint8 if num_classes <= 256 else np.uint16)


class Segmenter:
    """Predict per-pixel class labels for images of any size.

    It wraps a network (``model``), an exported graph's runner, or a fitted classical
    method (``method``, labels only). ``predict`` takes a path, a PIL image or a uint8
    array ``(H, W[, C])`` and returns ``(H, W)`` labels (:func:`label_dtype`). Networks
    also take ``tta`` (test-time augmentation, :class:`~pixelwise.inference.tta.TTA`)
    and ``tiling`` (:class:`~pixelwise.inference.tiling.TileOptions`).

    ``backend`` (see :mod:`pixelwise.inference.backends`) runs a network: ``torch`` by
    default; an exported graph's runner is its own backend. Every network call goes
    through :meth:`forward_batch` (logits) or :meth:`forward_labels` (labels).
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
        self._structure: nn.Module | None = None
        self._activation_bytes: float | None = None
        self._fields: dict[tuple[int, int], tuple[tuple[int, int], bool, int]] = {}
        self._checked_overlaps: set[tuple[tuple[int, int], tuple[int, int]]] = set()
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

    @property
    def is_network(self) -> bool:
        """A network (a PyTorch model or an exported graph), not a classical method."""
        return self.backend is not None

    @property
    def pixel_scaling(self) -> PixelScaling:
        """The card's rule for 16-bit and float pixels (the default for classical methods)."""
        return self.card.pixel_scaling if isinstance(self.card, ModelCard) else PixelScaling()

    @property
    def input_scale(self) -> float:
        return self.card.input_scale if isinstance(self.card, ModelCard) else 1.0

    def to_array(self, image: ImageLike, options: ReadOptions | None = None) -> np.ndarray:
        """Any accepted image form -> ``(H, W, channels)`` uint8 for this model.

        Files are read by :func:`~pixelwise.data.reader.read_image` with ``options``
        (default: the card's pixel scaling, one page, the default pixel limit).
        """
        channels = self.info.channels
        if isinstance(image, (str, Path)):
            return read_image(image, channels, options or ReadOptions(self.pixel_scaling))
        if isinstance(image, Image.Image):
            image = np.asarray(image.convert("RGB" if channels == 3 else "L"))
        return as_channels(np.asarray(image), channels)

    @property
    def torch_threads(self) -> int | None:
        """PyTorch's threads while this Segmenter works: 1 when a graph runtime (ONNX
        Runtime, OpenVINO) runs the network, so that PyTorch's share of the work does not
        compete with the runtime's threads (see :mod:`pixelwise.inference.threads`);
        None (unchanged) otherwise."""
        return 1 if isinstance(self.backend, GraphRunner) else None

    @contextmanager
    def own_threads(self) -> Iterator[None]:
        """Inside, PyTorch runs on :attr:`torch_threads`. The Segmenter's own methods
        enter it; loops that do PyTorch work of their own between its calls (writing
        outputs, updating metrics) enter it around the loop."""
        with torch_threads(self.torch_threads):
            yield

    def _network(self, what: str) -> Backend:
        if self.backend is None:
            raise PixelwiseError(f"{what} needs a network; this model is a classical method")
        return self.backend

    def _architecture(self, what: str) -> nn.Module:
        """The PyTorch module of the architecture, for its receptive field and stride: the
        model itself, or for an exported graph one built from the card (weights unused)."""
        self._network(what)
        if self.model is not None:
            return self.model
        if self._structure is None:
            self._structure = build_model(**self.card.architecture).eval()
        return self._structure

    @torch.inference_mode()
    def forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        """The network's forward pass: ``(N, C, H, W)`` float32 normalised input -> logits
        ``(N, K, H, W)`` float32 on the model's device. The one place the network runs."""
        return self._network("class scores")(x.to(self.device)).float()

    @torch.inference_mode()
    def forward_labels(self, x: torch.Tensor) -> torch.Tensor:
        """The network's class labels: ``(N, C, H, W)`` float32 normalised input -> the
        argmax of its logits ``(N, H, W)`` int64 on the model's device, computed by the
        backend (inside the graph, for OpenVINO)."""
        return self._network("class labels").labels(x.to(self.device))

    def _model_input(self, pixels: np.ndarray) -> torch.Tensor:
        """``(N, H, W, C)`` uint8 -> ``(N, C, h, w)`` normalised float32 at the working scale."""
        scale = self.input_scale
        normalise = self.card.normalization.to_tensor
        images = [normalise(rescale_image(image, scale)) for image in pixels]
        return images[0][None] if len(images) == 1 else torch.stack(images)

    @_in_own_threads
    @torch.inference_mode()
    def logits(self, image: ImageLike) -> torch.Tensor:
        """Raw class scores ``(num_classes, H, W)`` float32 on the model's device.

        A model trained at a working scale sees the image resized by it; its scores are
        resized back to the image's ``H × W`` bilinearly.
        """
        self._network("class scores")
        pixels = self.to_array(image)
        scores = self.forward_batch(self._model_input(pixels[None]))
        if self.input_scale != 1:
            scores = F.interpolate(
                scores, size=pixels.shape[:2], mode="bilinear", align_corners=False
            )
        return scores[0]

    @_in_own_threads
    @torch.inference_mode()
    def batch_probabilities(self, pixels: np.ndarray, tta: TTA | None = None) -> torch.Tensor:
        """Class probabilities ``(N, K, H, W)`` float32 for ``(N, H, W, C)`` uint8 images of
        one size: softmax of the scores resized to ``H × W``, averaged over ``tta``'s views."""
        self._network("class probabilities")
        x = self._model_input(pixels)
        return tta_probabilities(self.forward_batch, x, pixels.shape[1:3], tta)

    @_in_own_threads
    @torch.inference_mode()
    def probabilities(
        self, image: ImageLike, tta: TTA | None = None, tiling: TileOptions | None = None
    ) -> torch.Tensor:
        """Class probabilities ``(K, H, W)`` float32 of one image, whole or ``tiling``'s tiles."""
        pixels = self.to_array(image)
        if tiling is None:
            return self.batch_probabilities(pixels[None], tta)[0].cpu()
        height, width = pixels.shape[:2]
        self.check_overlap(tiling, height, width)
        align = self.alignment(tiling.window(height, width))
        result = torch.empty(self.info.num_classes, height, width)

        def receive(first_row: int, rows: torch.Tensor) -> None:
            result[:, first_row : first_row + rows.shape[1]] = rows

        predict_tiled(
            ArraySource(pixels),
            lambda windows: self.batch_probabilities(windows, tta),
            self.info.num_classes,
            tiling,
            receive,
            align,
        )
        return result

    @_in_own_threads
    def labels(
        self, image: ImageLike, tta: TTA | None = None, tiling: TileOptions | None = None
    ) -> torch.Tensor:
        """Class labels ``(H, W)`` int64: a network's argmax (of :meth:`logits` on its device,
        from :meth:`forward_labels` at a working scale of 1, or of :meth:`probabilities`
        with ``tta`` or ``tiling``), or a classical method's prediction (on the CPU)."""
        if self.method is not None:
            if tta is not None or tiling is not None:
                raise PixelwiseError("TTA and tiling apply to networks, not classical methods")
            return torch.from_numpy(self.method.predict(self.to_array(image)))
        if tta is not None or tiling is not None:
            scores = self.probabilities(image, tta, tiling)[None]
        elif self.input_scale == 1:
            return self.forward_labels(self._model_input(self.to_array(image)[None]))[0]
        else:
            scores = self.logits(image)[None]
        return predicted_labels(scores, self.info.num_classes, torch.int64)[0]

    def predict(
        self, image: ImageLike, tta: TTA | None = None, tiling: TileOptions | None = None
    ) -> np.ndarray:
        """Class labels ``(H, W)`` for one image, as :func:`label_dtype`."""
        labels = self.labels(image, tta, tiling).cpu().numpy()
        return labels.astype(label_dtype(self.info.num_classes))

    # --- what tiling needs to know --------------------------------------------------------

    def receptive_field(self, window: tuple[int, int]) -> tuple[tuple[int, int], bool]:
        """``((rf_h, rf_w), global)``: the network's receptive field in image pixels within
        a ``window`` of image pixels (see :mod:`pixelwise.models.summary`)."""
        field, is_global, _ = self._window_facts(window)
        return field, is_global

    def alignment(self, window: tuple[int, int]) -> int:
        """The network's output stride in image pixels: tiles that start on multiples of it
        see the pooling grid of the whole image."""
        return self._window_facts(window)[2]

    def _window_facts(self, window: tuple[int, int]) -> tuple[tuple[int, int], bool, int]:
        if window not in self._fields:
            network = self._architecture("a receptive field")
            self._fields[window] = _window_facts(network, window, self.input_scale)
        return self._fields[window]

    def check_overlap(self, tiling: TileOptions, height: int, width: int) -> None:
        """Log a warning (once per window and overlap) when neighbouring windows share fewer
        pixels than the network sees."""
        window = tiling.window(height, width)
        overlap = tiling.overlap_pixels(height, width, self.alignment(window))
        if (window, overlap) in self._checked_overlaps:
            return
        self._checked_overlaps.add((window, overlap))
        field, is_global = self.receptive_field(window)
        if is_global:
            logger.warning(
                "the model's receptive field covers a whole %dx%d window (global context): "
                "tiled predictions cannot equal whole-image ones; prefer whole images or "
                "larger tiles",
                *window,
            )
        elif any(o < f for o, f, n in zip(overlap, field, (height, width), strict=True) if n > 0):
            logger.warning(
                "tile overlap %dx%d px is below the model's receptive field %dx%d px: "
                "pixels near tile borders see less context than in the whole image "
                "(raise --overlap to reduce seams)",
                *overlap,
                *field,
            )

    def whole_image_bytes(self, height: int, width: int, tta: TTA | None = None) -> int:
        """Estimated peak bytes of predicting a ``height × width`` image whole
        (see :mod:`pixelwise.inference.memory`)."""
        if self._activation_bytes is None:
            self._network("a memory estimate")
            self._activation_bytes = activation_bytes_per_pixel(
                self.forward_batch, self.info.channels
            )
        model_h, model_w = scaled_size(height, width, self.input_scale)
        return whole_image_bytes(
            height,
            width,
            self.info.channels,
            self.info.num_classes,
            model_h * model_w,
            self._activation_bytes,
            (tta or TTA()).views,
        )


def _window_facts(
    model: nn.Module, window: tuple[int, int], input_scale: float
) -> tuple[tuple[int, int], bool, int]:
    """Receptive field (image pixels, cut at the window), whether it is global, and the
    output stride in image pixels, from one summary pass at the window's model size."""
    from pixelwise.models.summary import summary

    result = summary(model, scaled_size(*window, input_scale))
    height, width = (round(f / input_scale) for f in result.receptive_field)
    field = (min(height, window[0]), min(width, window[1]))
    return field, result.receptive_field_global, max(1, round(result.output_stride / input_scale))


def load(
    path: str | Path, device: str | torch.device | None = None, backend: str | None = None
) -> Segmenter:
    """Load a saved model (or the model of a run directory, or an exported folder) as a
    :class:`Segmenter` running on ``backend``."""
    return Segmenter.load(path, device, backend)

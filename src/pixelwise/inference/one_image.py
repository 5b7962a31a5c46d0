"""One image's prediction, handed to outputs (files or memory) the same way everywhere.

``pixelwise predict`` (:mod:`pixelwise.inference.predict`) and ``pixelwise serve`` decide
whole or tiled with :func:`wants_tiles`, check with :func:`check_readable`, and feed the
predicted rows to an outputs object with :func:`put_whole` or :func:`put_tiled`; so an
image gives the same labels through either. :func:`predict_image` does all of it for one
image in memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pixelwise.data.reader import ImageHeader, PixelScaling, ReadOptions, decode
from pixelwise.data.regions import ArraySource, RegionSource, TiffRegionSource, readable_by_region
from pixelwise.errors import PixelwiseError
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.outputs import EncodedOutputs, RowOutputs, labels_from
from pixelwise.inference.segmenter import Segmenter, label_dtype
from pixelwise.inference.tiling import TileOptions, predict_tiled
from pixelwise.inference.tta import TTA
from pixelwise.sizes import format_size


def check_model_options(segmenter: Segmenter, options: PredictOptions) -> None:
    """Classical methods give labels only: no tiles, TTA or probabilities."""
    if segmenter.method is None:
        if options.outputs.quantized:
            raise PixelwiseError("--save-quantized needs a kmeans model; this is a network")
        return
    name = segmenter.method.name
    if options.tile == "always" or options.tta is not None or options.outputs.probabilities:
        raise PixelwiseError(
            f"tiles, TTA and probabilities need a network; the model is the classical method "
            f"{name!r}"
        )
    if options.outputs.quantized and not hasattr(segmenter.method, "quantize"):
        raise PixelwiseError(f"--save-quantized needs a kmeans model; this is {name}")


def wants_tiles(
    segmenter: Segmenter, header: ImageHeader, options: PredictOptions, read: ReadOptions
) -> bool:
    """Whether to predict the image in tiles: ``tile="auto"`` tiles networks' images over the
    pixel limit, or whose whole-image estimate exceeds ``max_memory``."""
    if options.tile != "auto":
        return options.tile == "always"
    if not segmenter.is_network:
        return False
    over_limit = read.max_pixels is not None and header.pixels > read.max_pixels
    estimate = segmenter.whole_image_bytes(header.height, header.width, options.tta)
    return over_limit or estimate > options.max_memory


def check_readable(
    header: ImageHeader, tiled: bool, channels: int, max_memory: int, read: ReadOptions
) -> None:
    """Whole images obey the pixel limit; whatever is decoded whole (whole images, and tiled
    ones that cannot be read by region: anything but a tiled or striped TIFF) must fit
    ``max_memory`` decoded."""
    if not tiled:
        header.check_pixels(
            read.max_pixels, "; predict it in tiles (--tile auto, --tile H W) or raise it"
        )
        header.check_decoded_bytes(max_memory, "--max-memory")
        return
    if readable_by_region(header):
        return
    decoded = header.pixels * (channels + header.samples * header.dtype.itemsize)
    if decoded > max_memory:
        raise PixelwiseError(
            f"image '{header.name}' is {header.width}x{header.height}; it cannot be read by "
            f"region (only tiled or striped TIFF can), and decoding it whole needs "
            f"{format_size(decoded)}, above --max-memory {format_size(max_memory)}: "
            "convert it to a tiled TIFF or raise --max-memory"
        )


def region_source(header: ImageHeader, channels: int, scaling: PixelScaling) -> RegionSource:
    """The image to tile: read by region when it can be, else decoded whole."""
    if readable_by_region(header):
        return TiffRegionSource(header, channels, scaling)
    return ArraySource(decode(header, channels, scaling))


def put_whole(
    segmenter: Segmenter,
    outputs: RowOutputs,
    pixels: np.ndarray,
    probabilities: torch.Tensor | None,
    quantize: bool = False,
) -> None:
    """Hand a whole image's prediction to ``outputs``: ``pixels (H, W, C)`` uint8 and, for a
    network, its ``probabilities (K, H, W)`` on the CPU (a classical method predicts here;
    ``quantize`` adds a k-means model's quantized colours)."""
    num_classes = segmenter.info.num_classes
    if segmenter.method is None:
        if probabilities is None:
            raise ValueError("a network's prediction needs its probabilities")
        outputs.put(0, labels_from(probabilities, num_classes), probabilities, pixels)
        return
    labels = segmenter.labels(pixels).numpy().astype(label_dtype(num_classes))
    quantized = segmenter.method.quantize(pixels) if quantize else None  # type: ignore[attr-defined]
    outputs.put(0, labels, None, pixels, quantized)


def put_tiled(
    segmenter: Segmenter,
    outputs: RowOutputs,
    source: RegionSource,
    tiling: TileOptions,
    tta: TTA | None,
) -> None:
    """Predict ``source`` in ``tiling``'s tiles and hand the rows to ``outputs`` as they are
    finished (a network only)."""
    num_classes = segmenter.info.num_classes
    segmenter.check_overlap(tiling, source.height, source.width)
    align = segmenter.alignment(tiling.window(source.height, source.width))

    def receive(first_row: int, probabilities: torch.Tensor) -> None:
        rows = (first_row, first_row + probabilities.shape[1])
        pixels = source.read(rows, (0, source.width)) if outputs.needs_pixels else None
        outputs.put(first_row, labels_from(probabilities, num_classes), probabilities, pixels)

    predict_tiled(
        source,
        lambda windows: segmenter.batch_probabilities(windows, tta),
        num_classes,
        tiling,
        receive,
        align,
    )


@dataclass(frozen=True)
class ImageResult:
    """One image predicted in memory: its header, whether it was tiled, its outputs, and the
    seconds the decoding and prediction took."""

    header: ImageHeader
    tiled: bool
    outputs: EncodedOutputs
    seconds: float


def predict_image(
    segmenter: Segmenter,
    header: ImageHeader,
    options: PredictOptions,
    kinds: Sequence[str] = ("labels",),
) -> ImageResult:
    """Predict the image that ``header`` describes (read with ``options.read_options``) into
    memory, as :func:`~pixelwise.inference.predict.predict_images` would predict it from a
    file; ``kinds`` are PNG output kinds (see :class:`EncodedOutputs`)."""
    started = time.perf_counter()
    check_model_options(segmenter, options)
    read = options.read_options(segmenter.pixel_scaling)
    channels = segmenter.info.channels
    tiled = wants_tiles(segmenter, header, options, read)
    check_readable(header, tiled, channels, options.max_memory, read)
    outputs = EncodedOutputs(kinds, header.height, header.width, segmenter.info)
    with segmenter.own_threads():
        if tiled:
            source = region_source(header, channels, read.scaling)
            try:
                put_tiled(segmenter, outputs, source, options.tiling, options.tta)
            finally:
                source.close()
        else:
            pixels = decode(header, channels, read.scaling)
            probabilities = None
            if segmenter.is_network:
                scores = segmenter.batch_probabilities(pixels[None], options.tta)
                probabilities = scores[0].cpu()
            put_whole(segmenter, outputs, pixels, probabilities, "quantized" in kinds)
    return ImageResult(header, tiled, outputs, time.perf_counter() - started)

"""Tiled prediction with memory that does not grow with the image's height.

Windows of ``tile = (th, tw)`` pixels step by ``stride = round(tile · (1 − overlap))``,
rounded down to a multiple of the network's alignment ``a`` (its output stride in image
pixels: a U-Net of depth 4 at working scale 0.5 has ``a = 32``), so that every window
starts on the grid of the network's pooling, as the whole image does. The last window of
a row or column starts on that grid too and reaches the image's border: it is up to
``a − 1`` pixels longer than the tile. A side shorter than the tile gets one window of
its own length. Each window's class
probabilities are weighted by a blending window (``gaussian``: σ = tile/8 per axis, as in
nnU-Net; ``constant``: 1) and summed; a pixel's probabilities are the weighted mean.

Windows run tile row by tile row, ``batch`` windows of one size per forward pass. A
:class:`BandAccumulator` holds the weighted sums for the rows that the current tile row
covers, at most ``(K, th + a − 1, W)`` float32, and nothing else: once a tile row is done,
the rows above the next one are final and leave it, in chunks of at most ``chunk_rows``
rows. Peak memory is therefore about ``4·(K+1)·th·W`` bytes (sums and weights)
``+ C·th·W`` (the tile row's pixels) plus the model's own for ``batch`` windows: it depends
on the tile, the batch and the image width, never on the height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from pixelwise.data.regions import RegionSource
from pixelwise.errors import PixelwiseError

BLENDS = ("gaussian", "constant")
GAUSSIAN_SIGMA = 1 / 8
"""σ of the gaussian blending window, as a fraction of the tile side (nnU-Net's choice)."""

ProbabilitiesFn = Callable[[np.ndarray], torch.Tensor]
"""``(B, h, w, C)`` uint8 windows -> ``(B, K, h, w)`` float32 class probabilities."""

RowsFn = Callable[[int, torch.Tensor], None]
"""Receives ``(first_row, probabilities (K, n, W))`` for finished rows, top to bottom."""


@dataclass(frozen=True)
class TileOptions:
    """How to tile: ``size`` ``(th, tw)`` pixels, ``overlap`` as a fraction of the tile in
    ``[0, 1)``, ``blend`` (``gaussian`` or ``constant``), ``batch`` windows per forward pass.
    """

    size: tuple[int, int] = (512, 512)
    overlap: float = 0.25
    blend: str = "gaussian"
    batch: int = 4

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise PixelwiseError(f"tile size must be two positive integers H W, got {self.size}")
        if not 0 <= self.overlap < 1:
            raise PixelwiseError(f"tile overlap must be in [0, 1), got {self.overlap}")
        if self.blend not in BLENDS:
            raise PixelwiseError(f"unknown blend {self.blend!r}; choose from: {', '.join(BLENDS)}")
        if self.batch < 1:
            raise PixelwiseError(f"tile batch must be at least 1, got {self.batch}")

    def window(self, height: int, width: int) -> tuple[int, int]:
        """The window ``(h, w)`` used on a ``height × width`` image (no larger than it)."""
        return min(self.size[0], height), min(self.size[1], width)

    def strides(self, height: int, width: int, align: int = 1) -> tuple[int, int]:
        """Steps between windows ``(sy, sx)`` in pixels: multiples of ``align``, at least one."""
        window = self.window(height, width)
        return tuple(_stride(side, self.overlap, align) for side in window)  # type: ignore[return-value]

    def overlap_pixels(self, height: int, width: int, align: int = 1) -> tuple[int, int]:
        """Pixels shared by neighbouring windows ``(oy, ox)`` (at least)."""
        window, strides = self.window(height, width), self.strides(height, width, align)
        return max(window[0] - strides[0], 0), max(window[1] - strides[1], 0)

    def to_dict(self) -> dict:
        return {
            "size": list(self.size),
            "overlap": self.overlap,
            "blend": self.blend,
            "batch": self.batch,
        }


def _stride(window: int, overlap: float, align: int) -> int:
    stride = max(1, round(window * (1 - overlap)))
    if align > 1 and align <= window:
        stride = max(align, stride // align * align)
    return stride


def window_spans(length: int, window: int, stride: int, align: int = 1) -> list[tuple[int, int]]:
    """``(start, size)`` of windows covering ``[0, length)``: starts ``stride`` apart, on
    multiples of ``align``; the last one reaches ``length`` (so it may be up to ``align − 1``
    longer than ``window``, and overlap its neighbour by more).
    """
    if window >= length:
        return [(0, length)]
    if align > window:
        align = 1
    last = (length - window) // align * align
    starts = [*range(0, last, stride), last]
    return [(start, (length if start == last else start + window) - start) for start in starts]


def blend_weights(height: int, width: int, blend: str) -> torch.Tensor:
    """The blending window ``(height, width)`` float32, 1 at the centre (or everywhere)."""
    if blend == "constant":
        return torch.ones(height, width)

    def axis(n: int) -> torch.Tensor:
        position = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
        sigma = max(n * GAUSSIAN_SIGMA, 1e-3)
        return torch.exp(-0.5 * (position / sigma) ** 2)

    weights = axis(height)[:, None] * axis(width)[None, :]
    return (weights / weights.max()).float()


class BandAccumulator:
    """Weighted class-probability sums for one band of ``height`` rows × the image width.

    ``scores`` ``(K, height, width)`` and ``weights`` ``(height, width)`` are allocated once;
    buffer row 0 is image row ``top``. :meth:`add` sums a window in; :meth:`pop` hands out
    finished rows as weighted means and moves the band down.
    """

    def __init__(self, num_classes: int, height: int, width: int, chunk_rows: int = 64) -> None:
        self.scores = torch.zeros(num_classes, height, width)
        self.weights = torch.zeros(height, width)
        self.top = 0
        self.chunk_rows = chunk_rows

    @property
    def height(self) -> int:
        return self.weights.shape[0]

    def add(self, probabilities: torch.Tensor, y: int, x: int, weight: torch.Tensor) -> None:
        """Sum ``probabilities`` ``(K, h, w)`` × ``weight`` ``(h, w)`` in at image row ``y``,
        column ``x``; the window must lie inside the band."""
        h, w = weight.shape
        row = y - self.top
        if row < 0 or row + h > self.height:
            raise ValueError(f"window rows {y}..{y + h} lie outside the band at {self.top}")
        self.scores[:, row : row + h, x : x + w].add_(probabilities * weight)
        self.weights[row : row + h, x : x + w].add_(weight)

    def pop(self, until: int) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(first_row, probabilities (K, n, W))`` for image rows ``[top, until)``, in
        chunks of at most ``chunk_rows``; afterwards the band starts at ``until``."""
        finished = until - self.top
        if not 0 <= finished <= self.height:
            raise ValueError(f"cannot finish rows {self.top}..{until} of a {self.height}-row band")
        for start in range(0, finished, self.chunk_rows):
            stop = min(start + self.chunk_rows, finished)
            yield self.top + start, self.scores[:, start:stop] / self.weights[start:stop]
        self._shift(finished)
        self.top = until

    def _shift(self, rows: int) -> None:
        """Move the unfinished rows ``[rows, height)`` to the top and clear the rest."""
        keep = self.height - rows
        if keep > 0 and rows > 0:
            source_scores, source_weights = self.scores[:, rows:], self.weights[rows:]
            if rows < keep:  # source and destination overlap
                source_scores, source_weights = source_scores.clone(), source_weights.clone()
            self.scores[:, :keep].copy_(source_scores)
            self.weights[:keep].copy_(source_weights)
        self.scores[:, keep:].zero_()
        self.weights[keep:].zero_()


def predict_tiled(
    source: RegionSource,
    probabilities: ProbabilitiesFn,
    num_classes: int,
    options: TileOptions,
    receive: RowsFn,
    align: int = 1,
) -> None:
    """Predict ``source`` window by window and pass each finished chunk of rows to ``receive``.

    Windows start on multiples of ``align`` pixels (the network's output stride in image
    pixels). Rows arrive in order, each exactly once, as ``(first_row, (K, n, W))`` float32
    weighted mean probabilities.
    """
    height, width = source.height, source.width
    window_h, window_w = options.window(height, width)
    stride_y, stride_x = options.strides(height, width, align)
    rows = window_spans(height, window_h, stride_y, align)
    cols = window_spans(width, window_w, stride_x, align)
    band = BandAccumulator(num_classes, max(size for _, size in rows), width)
    weights: dict[tuple[int, int], torch.Tensor] = {}
    for index, (y, row_size) in enumerate(rows):
        pixels = source.read((y, y + row_size), (0, width))
        by_width: dict[int, list[int]] = {}
        for x, col_size in cols:
            by_width.setdefault(col_size, []).append(x)
        for col_size, starts in by_width.items():
            key = (row_size, col_size)
            if key not in weights:
                weights[key] = blend_weights(row_size, col_size, options.blend)
            for first in range(0, len(starts), options.batch):
                chosen = starts[first : first + options.batch]
                windows = np.stack([pixels[:, x : x + col_size] for x in chosen])
                scores = probabilities(windows).to("cpu", torch.float32)
                for x, window_scores in zip(chosen, scores, strict=True):
                    band.add(window_scores, y, x, weights[key])
        next_row = rows[index + 1][0] if index + 1 < len(rows) else height
        for first_row, chunk in band.pop(next_row):
            receive(first_row, chunk)

"""What shapes a prediction besides the model and the image: tiles, TTA, reading, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from pixelwise.data.reader import DEFAULT_MAX_PIXELS, PixelScaling, ReadOptions
from pixelwise.errors import PixelwiseError
from pixelwise.inference.outputs import OutputRequest
from pixelwise.inference.tiling import TileOptions
from pixelwise.inference.tta import TTA

DEFAULT_MAX_MEMORY = 4 * 2**30


@dataclass(frozen=True)
class PredictOptions:
    """Everything that shapes a prediction run besides the model, inputs and ``OUT``.

    ``tile``: ``"auto"`` (tile images over the pixel limit or ``max_memory``), ``"always"``
    or ``"never"``; ``tiling``: the tile size, overlap, blend and windows per pass.
    ``page``, ``max_pixels``: as in :class:`~pixelwise.data.reader.ReadOptions`;
    ``uint16_max`` and ``float_range`` replace those of the model card's pixel scaling.
    ``batch_size`` whole images of one size per forward pass (fewer when ``max_memory``
    says so); ``workers`` processes decode ahead. ``roi`` is a folder of regions of
    interest, one per input by stem: outside its region an image's labels are the
    model's ignore index (``roi_fill="ignore"``) or class 0 (``"zero"``).
    """

    tile: Literal["auto", "always", "never"] = "auto"
    tiling: TileOptions = field(default_factory=TileOptions)
    max_memory: int = DEFAULT_MAX_MEMORY
    tta: TTA | None = None
    page: int | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    uint16_max: int | None = None
    float_range: tuple[float, float] | None = None
    outputs: OutputRequest = field(default_factory=OutputRequest)
    batch_size: int = 4
    workers: int = 2
    summary: bool = False
    force: bool = False
    skip_bad: bool = False
    progress: bool = True
    roi: str | None = None
    roi_fill: Literal["ignore", "zero"] = "ignore"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise PixelwiseError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.workers < 0:
            raise PixelwiseError(f"--workers must be 0 or more, got {self.workers}")
        if self.max_memory < 1:
            raise PixelwiseError(f"--max-memory must be positive, got {self.max_memory}")

    def region_fill(self, ignore_index: int) -> int:
        """The label written outside a region of interest: the model's ``ignore_index``,
        or 0 (``roi_fill="zero"``)."""
        return ignore_index if self.roi_fill == "ignore" else 0

    def read_options(self, card_scaling: PixelScaling) -> ReadOptions:
        """The reader's options: the card's scaling with this run's replacements."""
        given = {"uint16_max": self.uint16_max, "float_range": self.float_range}
        scaling = replace(card_scaling, **{k: v for k, v in given.items() if v is not None})
        return ReadOptions(scaling, self.page, self.max_pixels)

"""Images read one region at a time, so that a huge image never has to be in memory whole.

A region source has the displayed ``height`` and ``width`` and ``read(rows, cols)``, which
returns the model's ``(h, w, channels)`` uint8 pixels of rows ``[r0, r1)`` and columns
``[c0, c1)`` by the reader's rules (scaling, orientation, channels). A TIFF page stored in
tiles or strips is read by decoding only the segments that the region touches; anything
else is decoded whole once and sliced.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import tifffile

from pixelwise.data.reader import (
    IMAGECODECS_HINT,
    ImageHeader,
    PixelScaling,
    tiff_page_layout,
    to_model_pixels,
)
from pixelwise.errors import PixelwiseError

Span = tuple[int, int]

REGION_SEGMENT_BYTES = 64 * 2**20
"""A TIFF is read by region when its largest decoded tile or strip is at most this."""


class RegionSource(Protocol):
    """An image of ``height × width`` pixels read by region as ``(h, w, channels)`` uint8."""

    height: int
    width: int
    channels: int

    def read(self, rows: Span, cols: Span) -> np.ndarray: ...

    def close(self) -> None: ...


class ArraySource:
    """A decoded ``(H, W, C)`` uint8 image; regions are views of it."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.height, self.width, self.channels = pixels.shape

    def read(self, rows: Span, cols: Span) -> np.ndarray:
        return self.pixels[rows[0] : rows[1], cols[0] : cols[1]]

    def close(self) -> None:
        """Nothing to release."""


class TiffRegionSource:
    """One TIFF page read by region: only the tiles or strips a region touches are decoded.

    Memory per :meth:`read` is the region plus the segments it touches, never the page.
    """

    def __init__(self, header: ImageHeader, channels: int, scaling: PixelScaling) -> None:
        self.header = header
        self.height, self.width, self.channels = header.height, header.width, channels
        self.scaling = scaling
        try:
            self._tiff = tifffile.TiffFile(header.source.readable())
        except (OSError, ValueError, tifffile.TiffFileError) as error:
            raise PixelwiseError(f"cannot read image '{header.name}': {error}") from None
        self._page = self._tiff.pages[header.page]
        self.samples, self._samples_first = tiff_page_layout(self._page, header.name)
        self._grid = self._segment_grid()

    def _segment_grid(self) -> tuple[int, int, int, int, int]:
        """``(segment_h, segment_w, rows_of_segments, cols_of_segments, planes)``."""
        page = self._page
        if page.is_tiled:
            seg_h, seg_w = page.tilelength, page.tilewidth
        else:
            seg_h = min(page.rowsperstrip or page.imagelength, page.imagelength)
            seg_w = page.imagewidth
        rows = math.ceil(page.imagelength / seg_h)
        cols = math.ceil(page.imagewidth / seg_w)
        planes = self.samples if self._samples_first else 1
        if len(page.dataoffsets) != planes * rows * cols:
            raise PixelwiseError(
                f"TIFF '{self.header.name}' has an unsupported segment layout; it cannot be "
                "read by region"
            )
        return seg_h, seg_w, rows, cols, planes

    def _segments(self, rows: Span, cols: Span) -> list[int]:
        seg_h, seg_w, n_rows, n_cols, planes = self._grid
        row_range = range(rows[0] // seg_h, (rows[1] - 1) // seg_h + 1)
        col_range = range(cols[0] // seg_w, (cols[1] - 1) // seg_w + 1)
        plane_size = n_rows * n_cols
        return [
            plane * plane_size + row * n_cols + col
            for plane in range(planes)
            for row in row_range
            for col in col_range
        ]

    def read_stored(self, rows: Span, cols: Span) -> np.ndarray:
        """Stored pixels ``(h, w, samples)`` of stored rows and columns (no orientation)."""
        page, fh = self._page, self._tiff.filehandle
        out = np.zeros((rows[1] - rows[0], cols[1] - cols[0], self.samples), page.dtype)
        chosen = self._segments(rows, cols)
        offsets = [page.dataoffsets[i] for i in chosen]
        counts = [page.databytecounts[i] for i in chosen]
        decode_args = {"_fullsize": page.is_tiled}
        if page.compression in (6, 7, 33007, 34892):
            decode_args |= {"jpegtables": page.jpegtables, "jpegheader": page.jpegheader}
        try:
            for data, index in fh.read_segments(offsets, counts, indices=chosen, sort=True):
                segment, (plane, _, y, x, _), _ = page.decode(data, index, **decode_args)
                if segment is not None:
                    self._paste(out, segment[0], plane, y - rows[0], x - cols[0])
        except (OSError, ValueError, tifffile.TiffFileError) as error:
            hint = f" ({IMAGECODECS_HINT})" if "imagecodecs" in str(error) else ""
            raise PixelwiseError(f"cannot read image '{self.header.name}': {error}{hint}") from None
        return out

    def _paste(self, out: np.ndarray, segment: np.ndarray, plane: int, top: int, left: int) -> None:
        """Copy the part of ``segment`` ``(h, w, c)`` that falls inside ``out``."""
        height, width = out.shape[:2]
        y0, x0 = max(top, 0), max(left, 0)
        y1 = min(top + segment.shape[0], height)
        x1 = min(left + segment.shape[1], width)
        if y1 <= y0 or x1 <= x0:
            return
        part = segment[y0 - top : y1 - top, x0 - left : x1 - left]
        channels = slice(plane, plane + 1) if self._samples_first else slice(None)
        out[y0:y1, x0:x1, channels] = part

    def read(self, rows: Span, cols: Span) -> np.ndarray:
        stored_rows, stored_cols = self.header.orientation.source_region(
            rows, cols, self.height, self.width
        )
        stored = self.read_stored(stored_rows, stored_cols)
        if self.samples == 1:
            stored = stored[:, :, 0]
        return to_model_pixels(stored, self.header, self.channels, self.scaling)

    def close(self) -> None:
        self._tiff.close()


def readable_by_region(header: ImageHeader) -> bool:
    """Whether :class:`TiffRegionSource` can read ``header``'s image with small segments."""
    return header.reader == "tifffile" and 0 < header.segment_bytes <= REGION_SEGMENT_BYTES

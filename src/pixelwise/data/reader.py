"""The one image reader of every command: headers, pixel limits, scaling, orientation.

Rules (documented in ``docs/inference.md``; the scaling rule is recorded in every saved
model's card):

- Models take 8-bit RGB or gray pixels. Stored values are scaled to ``[0, 255]`` by
  :class:`PixelScaling`: 8-bit as stored; 16-bit ``v`` becomes ``round(v * 255 / uint16_max)``
  (``uint16_max`` 65535: divided by 257); float ``v`` becomes
  ``round((v - lo) / (hi - lo) * 255)`` for ``float_range = (lo, hi)``, default ``(0, 1)``.
  A value outside its range (or NaN) is an error, never a clip. Signed and 32-bit integer
  pixels are refused.
- The EXIF (or TIFF) orientation tag is applied: arrays have the displayed orientation.
- A file with several pages or frames needs ``ReadOptions.page``: never a silent first page.
- ``ReadOptions.max_pixels`` is an explicit limit, checked on the header before anything
  is decoded. PIL's own decompression-bomb limit is replaced by it while pixelwise opens
  a file.
- TIFF (BigTIFF, tiled or striped) is read with ``tifffile``, which can also read regions
  (:mod:`pixelwise.data.regions`). A TIFF compression that ``tifffile`` cannot decode
  without ``imagecodecs`` (LZW, JPEG) is read by PIL when it holds 8-bit pixels.
- An image is a file path, or bytes in memory (``bytes`` or a binary file object, e.g. an
  upload), held by an :class:`ImageSource`; in-memory images never touch the disk.
- Bytes that no reader recognises, and pixel types pixelwise does not read (more than 4
  samples, integers other than 8/16-bit unsigned), raise :class:`UnsupportedImageError`
  (a ``PixelwiseError``), from the header. An image over a limit (pixels, decoded bytes,
  TIFF tiles or strips far larger than the image) raises :class:`ImageTooLargeError`, from
  the header too. Everything else that a file can get wrong (truncated data, several
  pages, out-of-range values) raises ``PixelwiseError``.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from pixelwise.data.dihedral import IDENTITY, Dihedral, from_exif
from pixelwise.errors import PixelwiseError
from pixelwise.sizes import format_size

DEFAULT_MAX_PIXELS = 89_478_485
"""PIL's default ``MAX_IMAGE_PIXELS`` (above it PIL only warns, up to twice as much)."""

IMAGECODECS_HINT = "pip install imagecodecs"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_EXIF_ORIENTATION = 274
_PIL_LIMIT_LOCK = threading.Lock()
_UINT16_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_PNG_16BIT_COLOUR = frozenset({2, 4, 6})  # IHDR colour types: RGB, gray + alpha, RGBA
READABLE_FORMATS = "PNG, JPEG, TIFF, BMP, GIF, WebP"
MAX_SEGMENT_BYTES = 16 * 2**20
"""A TIFF tile or strip may decode to more bytes than its image up to this size."""


class UnsupportedImageError(PixelwiseError):
    """Bytes that are not an image format pixelwise reads, or pixels of a type it does not read."""


class ImageTooLargeError(PixelwiseError):
    """An image over a limit: pixels, decoded bytes, or the size of its TIFF tiles."""


ImageInput = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO
"""An image as a path, or its encoded bytes in memory (a binary file object is read whole)."""


@dataclass(frozen=True)
class ImageSource:
    """Where an image's encoded bytes are: a file (``path``) or memory (``data``).

    ``name`` is how messages name the image: the path, or the name given with the bytes.
    """

    name: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of(cls, image: ImageInput | ImageSource, name: str | None = None) -> ImageSource:
        """A source for a path, ``bytes``-like data or a binary file object (read whole).

        ``name`` names in-memory data in messages (default ``<bytes>``).
        """
        if isinstance(image, ImageSource):
            return image
        if isinstance(image, (str, os.PathLike)):
            return cls(str(image), path=Path(image))
        if isinstance(image, (bytes, bytearray, memoryview)):
            return cls(name or "<bytes>", data=bytes(image))
        if hasattr(image, "read"):
            data = image.read()
            if not isinstance(data, bytes):
                raise TypeError("an image file object must be opened in binary mode")
            return cls(name or str(getattr(image, "name", "<file object>")), data=data)
        raise TypeError(f"expected a path, bytes or a binary file object, got {type(image)}")

    def readable(self) -> Path | BinaryIO:
        """What PIL and tifffile open: the path, or a new in-memory file over the bytes."""
        return self.path if self.path is not None else io.BytesIO(self.data or b"")

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes (fewer when the image is shorter)."""
        if self.data is not None:
            return self.data[:size]
        try:
            with open(self.path, "rb") as handle:  # type: ignore[arg-type]
                return handle.read(size)
        except OSError as error:
            raise _cannot_read(self.name, error) from None

    def contents(self) -> np.ndarray:
        """Every byte, as a uint8 array (for decoders that take a buffer)."""
        if self.data is not None:
            return np.frombuffer(self.data, np.uint8)
        return np.fromfile(self.path, dtype=np.uint8)  # type: ignore[arg-type]

    def check_exists(self) -> None:
        if self.path is not None and not self.path.is_file():
            reason = (
                "a symbolic link that leads to no file (dangling, or a loop)"
                if self.path.is_symlink()
                else "no such file"
            )
            raise PixelwiseError(f"cannot read image '{self.name}': {reason}")


@dataclass(frozen=True)
class PixelScaling:
    """How stored pixel values become the models' 8-bit input range ``[0, 255]``.

    ``uint16_max``: the 16-bit value that means full scale (65535: divide by 257; 4095 for
    12-bit data). ``float_range``: ``(lo, hi)`` of float images, mapped to ``[0, 255]``.
    Values outside either range are an error.
    """

    uint16_max: int = 65535
    float_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not 1 <= self.uint16_max <= 65535:
            raise PixelwiseError(f"uint16_max must be in 1..65535, got {self.uint16_max}")
        lo, hi = self.float_range
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise PixelwiseError(f"float range must be two finite numbers lo < hi, got {lo}, {hi}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "uint8": "as stored",
            "uint16_max": self.uint16_max,
            "float_range": list(self.float_range),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PixelScaling:
        lo, hi = d.get("float_range", (0.0, 1.0))
        return cls(int(d.get("uint16_max", 65535)), (float(lo), float(hi)))

    def to_uint8(self, values: np.ndarray, path: str | Path) -> np.ndarray:
        """Stored values ``(H, W[, S])`` -> uint8 of the same shape, by the rule above."""
        if not values.dtype.isnative:
            values = values.astype(values.dtype.newbyteorder("="))
        kind = values.dtype
        if kind == np.uint8:
            return values
        if kind == np.bool_:
            return values.astype(np.uint8) * 255
        if kind == np.uint16:
            return self._scale_uint16(values, path)
        if kind.kind == "f":
            return self._scale_float(values, path)
        raise UnsupportedImageError(
            f"image '{path}' has {kind} pixels; pixelwise reads 8- and 16-bit unsigned "
            "integer and float images: convert it to one of these"
        )

    def _scale_uint16(self, values: np.ndarray, path: str | Path) -> np.ndarray:
        top = self.uint16_max
        if top < 65535 and values.size and int(values.max()) > top:
            raise PixelwiseError(
                f"image '{path}' has 16-bit values up to {int(values.max())}, above "
                f"uint16_max {top} (--uint16-max)"
            )
        wide = values.astype(np.uint32) * 255 + top // 2
        return (wide // top).astype(np.uint8)

    def _scale_float(self, values: np.ndarray, path: str | Path) -> np.ndarray:
        lo, hi = self.float_range
        if values.size:
            low, high = float(np.min(values)), float(np.max(values))
            if not (np.isfinite(low) and np.isfinite(high)):
                raise PixelwiseError(f"float image '{path}' holds NaN or infinite values")
            if low < lo or high > hi:
                raise PixelwiseError(
                    f"float image '{path}' has values in [{low:g}, {high:g}], outside the "
                    f"float range [{lo:g}, {hi:g}]; give its range with --float-range LO HI"
                )
        scaled = (values.astype(np.float32) - lo) * np.float32(255 / (hi - lo))
        return np.rint(scaled).astype(np.uint8)


@dataclass(frozen=True)
class ReadOptions:
    """How to read: the scaling rule, which page of a multipage file, the pixel limit.

    ``page`` is 0-based; ``None`` accepts single-page files only. ``max_pixels`` is
    ``None`` for no limit.
    """

    scaling: PixelScaling = field(default_factory=PixelScaling)
    page: int | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says, before any pixel is decoded.

    ``source`` holds the encoded bytes (a file or memory); ``height`` and ``width`` are the
    displayed size (after ``orientation``); ``samples`` are the stored channels (alpha
    included); ``reader`` is ``"tifffile"`` or ``"pil"``; ``segment_bytes`` is a TIFF
    page's largest decoded tile or strip (0 otherwise).
    """

    source: ImageSource
    height: int
    width: int
    samples: int
    dtype: np.dtype
    orientation: Dihedral
    page: int
    reader: Literal["tifffile", "pil"]
    segment_bytes: int = 0

    @property
    def name(self) -> str:
        """How messages name the image (its path, or the name given with its bytes)."""
        return self.source.name

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the stored pixels once decoded: pixels × samples × bytes per sample."""
        return self.pixels * self.samples * self.dtype.itemsize

    def check_decoded_bytes(self, max_bytes: int, flag: str) -> None:
        """Raise when decoding the image whole needs more than ``max_bytes`` (``flag`` sets it)."""
        if self.decoded_bytes > max_bytes:
            raise ImageTooLargeError(
                f"image '{self.name}' ({self.width}x{self.height}, {self.samples} × "
                f"{self.dtype} samples per pixel) decodes to {format_size(self.decoded_bytes)}, "
                f"above the limit of {format_size(max_bytes)} ({flag})"
            )

    def check_pixels(self, max_pixels: int | None, hint: str = "") -> None:
        """Raise when the image has more than ``max_pixels`` pixels (``None``: no limit)."""
        if max_pixels is not None and self.pixels > max_pixels:
            raise ImageTooLargeError(
                f"image '{self.name}' is {self.width}x{self.height} ({self.pixels:,} pixels), "
                f"above the limit of {max_pixels:,} pixels (--max-pixels){hint}"
            )


def _cannot_read(path: str | Path, error: BaseException) -> PixelwiseError:
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return PixelwiseError(f"cannot read image '{path}': {reason}")


def is_tiff(image: ImageInput | ImageSource) -> bool:
    """Whether ``image`` starts with a TIFF or BigTIFF signature."""
    return ImageSource.of(image).head(4) in _TIFF_MAGIC


def _orientation(value: object, path: str | Path) -> Dihedral:
    transform = from_exif(int(value)) if isinstance(value, int) else None
    if transform is None:
        raise PixelwiseError(f"image '{path}' has an invalid orientation tag {value!r} (1..8)")
    return transform


class PageError(PixelwiseError):
    """A multipage file without a choice of page, or a page it does not have. The message
    names the command line's ``--page``; :meth:`worded` names another way to choose."""

    def __init__(self, path: str | Path, pages: int, page: int | None) -> None:
        self.path, self.pages, self.page = path, pages, page
        super().__init__(self.worded("--page "))

    def worded(self, choice: str) -> str:
        """The message, with ``choice`` followed by a page number (``"--page "``,
        ``"the query parameter page="``) as the way to choose a page."""
        if self.page is None:
            return (
                f"image '{self.path}' has {self.pages} pages; choose one with {choice}N "
                f"(0..{self.pages - 1})"
            )
        return f"image '{self.path}' has {self.pages} page(s); {choice}{self.page} is not one"


def _page_index(pages: int, page: int | None, path: str | Path) -> int:
    if (page is None and pages > 1) or (page is not None and not 0 <= page < pages):
        raise PageError(path, pages, page)
    return page or 0


# --- TIFF through tifffile --------------------------------------------------------------


def tiff_page_layout(page: tifffile.TiffPage, path: str | Path) -> tuple[int, bool]:
    """``(samples, samples_first)`` of a gray or RGB page; anything else is an error."""
    axes, shape = page.axes, page.shape
    if axes == "YX":
        return 1, False
    if axes in ("YXS", "SYX"):
        return shape[axes.index("S")], axes == "SYX"
    raise PixelwiseError(f"TIFF '{path}' has a page of axes {axes} {shape}; expected a 2-D image")


def _tifffile_can_read(page: tifffile.TiffPage) -> bool:
    """Gray or RGB pixels, a single image plane (not a volume)."""
    photometric = int(page.photometric)
    gray_or_rgb = photometric in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB)
    return gray_or_rgb and page.axes in ("YX", "YXS", "SYX")


def _segment_bytes(page: tifffile.TiffPage) -> int:
    """Decoded bytes of the page's largest tile or strip."""
    return int(np.prod(page.chunks)) * page.dtype.itemsize


def _tiff_header(source: ImageSource, options: ReadOptions) -> ImageHeader | None:
    """The header of a TIFF that tifffile reads; ``None`` when PIL must read it."""
    name = source.name
    try:
        with tifffile.TiffFile(source.readable()) as tiff:
            index = _page_index(len(tiff.pages), options.page, name)
            page = tiff.pages[index]
            if not _tifffile_can_read(page):
                return None
            if page.compression not in tifffile.TIFF.DECOMPRESSORS:
                if page.dtype == np.uint8:
                    return None
                raise PixelwiseError(
                    f"TIFF '{name}' is compressed with {page.compression.name}, which needs "
                    f"imagecodecs: {IMAGECODECS_HINT}"
                )
            samples, _ = tiff_page_layout(page, name)
            tag = page.tags.get(_EXIF_ORIENTATION)
            orientation = _orientation(tag.value, name) if tag is not None else IDENTITY
            height, width = orientation.output_size(page.imagelength, page.imagewidth)
            return ImageHeader(
                source, height, width, samples, page.dtype, orientation, index, "tifffile",
                _segment_bytes(page),
            )  # fmt: skip
    except PixelwiseError:
        raise
    except (OSError, ValueError, KeyError, IndexError, tifffile.TiffFileError) as error:
        raise _cannot_read(name, error) from None


def _read_tiff_page(header: ImageHeader) -> np.ndarray:
    """The stored pixels ``(H, W[, S])`` of the header's page, as stored (not yet oriented)."""
    try:
        with tifffile.TiffFile(header.source.readable()) as tiff:
            page = tiff.pages[header.page]
            _, samples_first = tiff_page_layout(page, header.name)
            values = page.asarray()
    except (OSError, ValueError, KeyError, IndexError, tifffile.TiffFileError) as error:
        raise _cannot_read(header.name, error) from None
    return np.moveaxis(values, 0, -1) if samples_first else values


# --- everything else through PIL -------------------------------------------------------


@contextmanager
def _pil_limit_lifted() -> Iterator[None]:
    """PIL's own pixel limit off while pixelwise opens a file; ours is checked instead."""
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def open_pil(image: ImageInput | ImageSource) -> Image.Image:
    """Open ``image`` lazily with PIL (header only); a failure names the image."""
    source = ImageSource.of(image)
    source.check_exists()
    try:
        with _pil_limit_lifted():
            return Image.open(source.readable())
    except UnidentifiedImageError:
        raise UnsupportedImageError(
            f"cannot read image '{source.name}': not an image format pixelwise reads "
            f"({READABLE_FORMATS})"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise _cannot_read(source.name, error) from None


def _png_16bit_colour(source: ImageSource) -> bool:
    """Whether ``source`` is a PNG with 16-bit colour samples (PIL would keep only 8 bits)."""
    head = source.head(26)
    return len(head) == 26 and head[24] == 16 and head[25] in _PNG_16BIT_COLOUR


def _pil_sample_type(image: Image.Image, source: ImageSource) -> tuple[int, np.dtype]:
    """``(samples, dtype)`` of a PIL image as pixelwise decodes it."""
    mode = image.mode
    if image.format == "PNG" and _png_16bit_colour(source):
        return len(image.getbands()), np.dtype(np.uint16)
    if mode in _UINT16_MODES:
        return 1, np.dtype(np.uint16)
    if mode == "F":
        return 1, np.dtype(np.float32)
    if mode == "I":
        raise UnsupportedImageError(
            f"image '{source.name}' has 32-bit integer pixels; pixelwise reads 8- and 16-bit "
            "unsigned integer and float images: convert it to one of these"
        )
    return len(image.getbands()), np.dtype(np.uint8)


def _exif_orientation(image: Image.Image) -> object:
    """The EXIF orientation value (1 when absent), without decoding any pixel.

    PIL's ``getexif`` decodes a whole PNG to look for an eXIf chunk after the image data;
    pixelwise reads the one before it (where PNG writers put it) from the header.
    """
    if image.format == "PNG":
        exif = Image.Exif()
        if "exif" in image.info:
            exif.load(image.info["exif"])
    else:
        exif = image.getexif()
    return exif.get(_EXIF_ORIENTATION, 1)


def _pil_header(source: ImageSource, options: ReadOptions) -> ImageHeader:
    name = source.name
    with open_pil(source) as image:
        page = _page_index(getattr(image, "n_frames", 1), options.page, name)
        try:
            image.seek(page)
            samples, dtype = _pil_sample_type(image, source)
            orientation = _orientation(_exif_orientation(image), name)
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise _cannot_read(name, error) from None
        height, width = orientation.output_size(image.height, image.width)
    return ImageHeader(source, height, width, samples, dtype, orientation, page, "pil")


def _read_pil(header: ImageHeader, channels: int) -> np.ndarray:
    """Stored pixels ``(H, W[, S])`` (not yet oriented); 8-bit colour converted by PIL."""
    try:
        with open_pil(header.source) as image:
            image.seek(header.page)
            if header.dtype != np.uint8 and header.samples > 1:
                return _read_png_16bit_colour(header.source)
            image.load()
            if header.dtype == np.uint8:
                image = image.convert("RGB" if channels == 3 else "L")
            return np.asarray(image)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise _cannot_read(header.name, error) from None


def _read_png_16bit_colour(source: ImageSource) -> np.ndarray:
    """A 16-bit colour PNG at full depth, ``(H, W, S)`` uint16 in RGB(A) order."""
    values = cv2.imdecode(source.contents(), cv2.IMREAD_UNCHANGED)
    if values is None:
        raise PixelwiseError(f"cannot read image '{source.name}': the PNG data cannot be decoded")
    if values.ndim == 2 or values.shape[2] < 3:
        return values
    order = [2, 1, 0, 3][: values.shape[2]]
    return values[:, :, order]


# --- the public reader -------------------------------------------------------------------


def read_header(image: ImageInput | ImageSource, options: ReadOptions | None = None) -> ImageHeader:
    """Read and check ``image``'s header (size, pages, pixel type, orientation), quickly.

    ``image`` is a path, encoded bytes or a binary file object (see :class:`ImageSource`).
    Raises :class:`PixelwiseError` naming the image for anything it cannot read or that
    breaks a rule (:class:`UnsupportedImageError` for what is not a readable image at all); the
    pixel limit is checked by :meth:`ImageHeader.check_pixels`. Nothing is decoded.
    """
    options = options or ReadOptions()
    source = ImageSource.of(image)
    source.check_exists()
    header = _tiff_header(source, options) if is_tiff(source) else None
    header = header or _pil_header(source, options)
    _check_layout(header)
    return header


def _check_layout(header: ImageHeader) -> None:
    """Refuse, before decoding, pixels that pixelwise does not read (more than 4 samples,
    types other than 8/16-bit unsigned and float) and a TIFF whose tiles or strips decode
    to far more than its image (:data:`MAX_SEGMENT_BYTES` or the image's size)."""
    name = header.name
    if not 1 <= header.samples <= 4:
        raise UnsupportedImageError(
            f"image '{name}' has {header.samples} samples per pixel; pixelwise reads gray or "
            "RGB images, with or without alpha (1 to 4 samples)"
        )
    if header.dtype.kind not in "buf" or (header.dtype.kind == "u" and header.dtype.itemsize > 2):
        raise UnsupportedImageError(
            f"image '{name}' has {header.dtype} pixels; pixelwise reads 8- and 16-bit unsigned "
            "integer and float images: convert it to one of these"
        )
    if header.segment_bytes > max(header.decoded_bytes, MAX_SEGMENT_BYTES):
        raise ImageTooLargeError(
            f"TIFF '{name}' is {header.width}x{header.height} but stores it in tiles or strips "
            f"of {format_size(header.segment_bytes)} each, more than the image itself; "
            "rewrite it with smaller tiles"
        )


def as_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W)`` or ``(H, W, S)`` uint8 -> ``(H, W, channels)`` uint8.

    Alpha (the 2nd of 2 or the 4th of 4 samples) is dropped; gray is repeated into RGB;
    RGB becomes gray by PIL's ITU-R 601 luma.
    """
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.dtype != np.uint8:
        raise PixelwiseError(
            f"expected an (H, W) or (H, W, C) uint8 image, got shape {image.shape} {image.dtype}"
        )
    have = image.shape[2]
    if have in (2, 4):
        image, have = image[:, :, : have - 1], have - 1
    if have == channels:
        return image
    if have == 1:
        return np.repeat(image, channels, axis=2)
    if have == 3 and channels == 1:
        return np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("L"))[:, :, None]
    raise PixelwiseError(f"cannot convert a {have}-channel image to {channels} channels")


def to_model_pixels(
    stored: np.ndarray, header: ImageHeader, channels: int, scaling: PixelScaling
) -> np.ndarray:
    """Stored pixels of (a region of) a file -> displayed ``(h, w, channels)`` uint8."""
    displayed = header.orientation.apply(stored, (0, 1))
    pixels = as_channels(scaling.to_uint8(displayed, header.name), channels)
    return np.ascontiguousarray(pixels)


def read_image(
    image: ImageInput | ImageSource, channels: int = 3, options: ReadOptions | None = None
) -> np.ndarray:
    """Read a whole image (a path, encoded bytes or a binary file object) as
    ``(H, W, channels)`` uint8 by the rules above.

    ``channels`` is 3 (RGB) or 1 (gray). Truncated or corrupt files, too many pixels,
    several pages without a choice and out-of-range values raise ``PixelwiseError``.
    """
    if channels not in (1, 3):
        raise PixelwiseError(f"image channels must be 1 or 3, got {channels}")
    options = options or ReadOptions()
    header = read_header(image, options)
    header.check_pixels(options.max_pixels)
    return decode(header, channels, options.scaling)


def decode(header: ImageHeader, channels: int, scaling: PixelScaling) -> np.ndarray:
    """Decode the whole image that ``header`` describes (no pixel-limit check)."""
    tiff = header.reader == "tifffile"
    stored = _read_tiff_page(header) if tiff else _read_pil(header, channels)
    return to_model_pixels(stored, header, channels, scaling)

"""Reading images and masks from disk, encoding and writing PNGs atomically, listing images.

Every failure a user can cause (a missing, corrupt or truncated file, a colour mask)
raises :class:`~pixelwise.errors.PixelwiseError` with a message that names the file.
Truncated files are detected because images are fully decoded and PIL's
``ImageFile.LOAD_TRUNCATED_IMAGES`` is left at its default, ``False``. Images are read by
:mod:`pixelwise.data.reader`, the one reader of every command.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pixelwise.data import reader
from pixelwise.data.png_chunks import add_text_chunk
from pixelwise.data.reader import DEFAULT_MAX_PIXELS, open_pil, read_header
from pixelwise.errors import PixelwiseError
from pixelwise.files import write_bytes_atomic

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"})
"""Lower-case file suffixes treated as images; matching ignores case."""

_INDEX_MODES = frozenset({"1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N"})
_INDEX_WITH_ALPHA_MODES = frozenset({"LA", "La", "PA"})
_COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX"})


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has one of :data:`IMAGE_SUFFIXES` (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def _open(path: str | Path) -> Image.Image:
    """Open and fully decode the mask ``path`` by the reader's rules (one page, the default
    pixel limit, EXIF orientation applied); any failure becomes a ``PixelwiseError``."""
    header = read_header(path)
    header.check_pixels(DEFAULT_MAX_PIXELS)
    image = open_pil(path)
    try:
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except (OSError, SyntaxError, ValueError) as error:
        image.close()
        reason = getattr(error, "strerror", None) or str(error)
        raise PixelwiseError(f"cannot read image '{path}': {reason}") from error
    return image


def read_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """Read an image as ``(H, W, channels)`` uint8; ``channels`` is 3 (RGB) or 1 (gray).

    The rules of :func:`pixelwise.data.reader.read_image` with its default options.
    """
    return reader.read_image(path, channels)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask's stored values as ``(H, W)`` int64, without any mapping.

    Palette ("P") images give their palette indices, grayscale and 16/32-bit images
    their values. An RGB(A) mask whose R, G and B are equal everywhere gives that one
    channel (alpha is dropped); a truly colour mask is an error.
    """
    with _open(path) as image:
        mode = image.mode
        if mode in _INDEX_MODES:
            return np.asarray(image).astype(np.int64)
        if mode in _INDEX_WITH_ALPHA_MODES:
            return np.asarray(image.getchannel(0)).astype(np.int64)
        if mode not in _COLOUR_MODES:
            raise PixelwiseError(f"cannot read mask '{path}': unsupported image mode {mode!r}")
        rgb = np.asarray(image.convert("RGB"))
    if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all()):
        raise PixelwiseError(
            f"mask '{path}' is a colour image: give the colour of each class with "
            "--mask-colors (`pixelwise data inspect` writes a template)"
        )
    return rgb[..., 0].astype(np.int64)


def read_rgb_mask(path: str | Path) -> np.ndarray:
    """Read a colour-coded mask as ``(H, W, 3)`` uint8 RGB (palette masks in their colours;
    alpha dropped), for a colour table to map."""
    with _open(path) as image:
        return np.asarray(image.convert("RGB"))


def encode_png(
    array: np.ndarray,
    palette: Sequence[tuple[int, int, int]] | None = None,
    text: Mapping[str, str] | None = None,
) -> bytes:
    """Encode uint8 ``(H, W)`` or ``(H, W, 3)``, or uint16 ``(H, W)``, ``array`` as PNG bytes.

    With ``palette`` (at most 256 RGB colours) a uint8 ``(H, W)`` array is saved as a
    palette ("P") image, values past the palette (an ignore index) in black; uint16 is
    saved as 16-bit gray. ``text`` is stored as ``tEXt``
    chunks inserted by :func:`~pixelwise.data.png_chunks.add_text_chunk`, so the bytes
    without them are exactly the bytes encoded without ``text``. Deterministic: the same
    array and palette give the same bytes.
    """
    gray16 = array.dtype == np.uint16 and array.ndim == 2
    if not gray16 and (
        array.dtype != np.uint8
        or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3))
    ):
        raise ValueError(
            f"expected uint8 (H, W) or (H, W, 3), or uint16 (H, W), got {array.dtype} {array.shape}"
        )
    image = Image.fromarray(array)
    if palette is not None:
        if gray16 or array.ndim != 2 or len(palette) > 256:
            raise ValueError("a palette needs a uint8 (H, W) array and at most 256 colours")
        image = image.convert("P")
        padding = max(0, int(array.max(initial=0)) + 1 - len(palette))  # e.g. the ignore index
        image.putpalette(
            [value for colour in [*palette, *[(0, 0, 0)] * padding] for value in colour]
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    png = buffer.getvalue()
    for key, value in (text or {}).items():
        png = add_text_chunk(png, key, value)
    return png


def write_png_atomic(
    path: str | Path,
    array: np.ndarray,
    palette: Sequence[tuple[int, int, int]] | None = None,
    text: Mapping[str, str] | None = None,
) -> None:
    """Write :func:`encode_png`'s bytes of ``array`` to ``path``, atomically.

    The PNG goes to a temporary file in the same folder, which then replaces ``path``,
    so readers never see a half-written file. Parent folders are created.
    """
    write_bytes_atomic(path, encode_png(array, palette, text))


def folder_images(folder: Path) -> list[Path]:
    """The image files in ``folder``, sorted by name (not recursive). A symbolic link with
    an image's name is listed even when it leads nowhere (dangling, or a loop), so that
    reading it fails by name instead of it going missing silently."""
    return sorted(p for p in folder.iterdir() if is_image_entry(p))


def is_image_entry(path: Path) -> bool:
    """An image file, or a symbolic link with an image's name that is not a folder."""
    return is_image_file(path) and (path.is_file() or (path.is_symlink() and not path.is_dir()))


def list_images(folder_or_files: Iterable[str | Path] | str | Path) -> list[Path]:
    """Expand folders (sorted, not recursive, image suffixes only) and image files.

    A single path is accepted as well as an iterable of paths. The result keeps the
    order of the arguments. A missing path, a file that is not an image, or no images
    at all raise ``PixelwiseError``.
    """
    if isinstance(folder_or_files, (str, os.PathLike)):
        folder_or_files = [folder_or_files]
    paths = [Path(p) for p in folder_or_files]
    images: list[Path] = []
    for path in paths:
        if path.is_dir():
            images.extend(folder_images(path))
        elif path.is_file() and is_image_file(path):
            images.append(path)
        elif path.exists():
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise PixelwiseError(f"'{path}' is not an image file (expected {suffixes})")
        else:
            raise PixelwiseError(f"'{path}' does not exist")
    if not images:
        names = ", ".join(f"'{p}'" for p in paths) or "(nothing given)"
        raise PixelwiseError(f"no image files found in {names}")
    return images

"""What the INPUTs of ``pixelwise predict`` name: image files, folders, globs and manifests.

- an image file: itself;
- a folder: its image files, sorted by name, not recursive;
- a glob pattern (a path with ``*``, ``?`` or ``[`` that does not exist as such, e.g.
  ``'scans/*/*.tif'``, quoted so that the shell leaves it alone): the image files it
  matches, sorted;
- a manifest (a ``.txt`` file): one image path a line, in order; relative paths are
  relative to the manifest's folder; blank lines and lines starting with ``#`` are skipped.

The result keeps the order of the INPUTs. Only names are listed here (and each file's
kind checked); no image is opened.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pixelwise.data.io import (
    IMAGE_SUFFIXES,
    folder_images,
    is_image_entry,
    is_image_file,
    list_images,
)
from pixelwise.errors import PixelwiseError

MANIFEST_SUFFIX = ".txt"


@dataclass(frozen=True)
class InputList:
    """The image files to predict, in order, and the folders they were listed from (whole
    folders and the folders of glob matches: an output written there would be read as an
    input by a later run)."""

    files: list[Path]
    folders: list[Path]


def _is_glob(text: str) -> bool:
    return glob.has_magic(text)


def _manifest(path: Path) -> list[Path]:
    """The image files a manifest lists (see the module docstring)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise PixelwiseError(f"cannot read manifest '{path}': {error}") from None
    files = []
    for number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        file = Path(entry) if Path(entry).is_absolute() else path.parent / entry
        if not file.is_file() or not is_image_file(file):
            what = "is not an image file" if file.exists() else "does not exist"
            raise PixelwiseError(f"manifest '{path}' line {number}: '{file}' {what}")
        files.append(file)
    return files


def _matches(pattern: str) -> list[Path]:
    """The image files a glob pattern matches, sorted."""
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
    files = [p for p in found if is_image_entry(p)]
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise PixelwiseError(f"the pattern '{pattern}' matches no image file ({suffixes})")
    return files


def list_inputs(inputs: Iterable[str | Path]) -> InputList:
    """Expand INPUTs (files, folders, globs, manifests) into image files, in order.

    A missing path, a file that is neither an image nor a manifest, a pattern or manifest
    without images, or no images at all raise :class:`PixelwiseError`.
    """
    files: list[Path] = []
    folders: list[Path] = []
    given = [str(item) for item in inputs]
    for text in given:
        path = Path(text)
        if path.is_dir():
            folders.append(path)
            files += folder_images(path)
        elif path.is_file() and path.suffix.lower() == MANIFEST_SUFFIX:
            files += _manifest(path)
        elif not path.exists() and _is_glob(text):
            matched = _matches(text)
            folders += sorted({p.parent for p in matched} - set(folders))
            files += matched
        else:
            files += list_images(path)
    if not files:
        names = ", ".join(f"'{p}'" for p in given) or "(nothing given)"
        raise PixelwiseError(f"no image files found in {names}")
    return InputList(files, folders)

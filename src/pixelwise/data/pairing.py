"""Which mask (and region of interest) goes with which image, and which split each is in.

- **By key**: each file's key is its stem (``a.png`` with ``a.gif``), or, with a key
  pattern, the first group of the pattern searched in its file name (``^(\\d+)_`` pairs
  ``0001_img.tif`` with ``0001_gt.gif``). Two files of one folder with one key are an
  error naming both; an image without a mask (or region) is an error naming it, or left
  out with ``skip_unpaired``; masks without an image are left out.
- **By a manifest**: a CSV file with the columns ``image,mask`` and optionally ``roi``
  and ``split``, one sample a row, paths relative to the file.
- **Splits**: from split files (``train=FILE``, one key a line), from the manifest's
  ``split`` column, or else cut at random (seeded) with a validation fraction.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.data.io import list_images
from pixelwise.errors import PixelwiseError

MANIFEST_COLUMNS = ("image", "mask", "roi", "split")


@dataclass(frozen=True)
class Sample:
    """One image, its mask, its region of interest (or None), its key and its split (or
    None when the split is to be cut at random)."""

    image: Path
    mask: Path
    key: str
    roi: Path | None = None
    split: str | None = None


def _require_folder(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise PixelwiseError(f"{what} folder '{path}' does not exist")
    return path


def key_pattern(text: str | None) -> re.Pattern | None:
    """``--pair-key``: a regular expression with at least one group, compiled."""
    if text is None:
        return None
    try:
        pattern = re.compile(text)
    except re.error as error:
        raise PixelwiseError(f"--pair-key {text!r} is not a regular expression: {error}") from None
    if pattern.groups < 1:
        raise PixelwiseError(f"--pair-key {text!r} needs a group, e.g. '^(\\d+)_'")
    return pattern


def key_of(path: Path, pattern: re.Pattern | None) -> str | None:
    """The key of ``path``: its stem, or the first group of ``pattern`` in its name."""
    if pattern is None:
        return path.stem
    match = pattern.search(path.name)
    return match.group(1) if match else None


def index_by_key(
    files: Sequence[Path], pattern: re.Pattern | None, folder: Path
) -> tuple[dict[str, Path], list[Path]]:
    """Files by key, and the files the pattern gives no key; one key twice is an error."""
    index: dict[str, Path] = {}
    keyless = []
    for file in files:
        key = key_of(file, pattern)
        if key is None:
            keyless.append(file)
        elif key in index:
            raise PixelwiseError(f"'{index[key]}' and '{file}' in '{folder}' have one key {key!r}")
        else:
            index[key] = file
    return index, keyless


def pair_folders(
    images: str | Path,
    masks: str | Path,
    roi: str | Path | None = None,
    pair_key: str | None = None,
    skip_unpaired: bool = False,
) -> list[Sample]:
    """The samples of an image folder, a mask folder and an optional region folder, paired
    by key (see the module docstring), sorted by key."""
    pattern = key_pattern(pair_key)
    image_folder = _require_folder(images, "image")
    by_key, keyless = index_by_key(list_images(image_folder), pattern, image_folder)
    if keyless and not skip_unpaired:
        raise PixelwiseError(
            f"image '{keyless[0]}' has no key: --pair-key {pair_key!r} does not match its name"
        )
    partners = {"mask": _keyed(masks, "mask", pattern)}
    if roi is not None:
        partners["region"] = _keyed(roi, "region", pattern)
    samples = []
    for key, image in sorted(by_key.items()):
        found = {what: files.get(key) for what, (files, _) in partners.items()}
        missing = [what for what, file in found.items() if file is None]
        if missing:
            if skip_unpaired:
                continue
            folder = partners[missing[0]][1]
            raise PixelwiseError(
                f"image '{image}' has no {missing[0]} of key {key!r} in '{folder}'"
            )
        samples.append(Sample(image, found["mask"], key, found.get("region")))
    return samples


def _keyed(folder: str | Path, what: str, pattern: re.Pattern | None) -> tuple[dict, Path]:
    path = _require_folder(folder, what)
    files, _ = index_by_key(list_images(path), pattern, path)
    return files, path


def read_manifest(path: str | Path) -> list[Sample]:
    """The samples a manifest CSV lists (see the module docstring), in its order."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
            columns = set(rows[0]) if rows else set()
    except FileNotFoundError:
        raise PixelwiseError(f"manifest '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PixelwiseError(f"cannot read manifest '{path}': {error}") from None
    if not rows:
        raise PixelwiseError(f"manifest '{path}' lists no samples")
    if not {"image", "mask"} <= columns or not columns <= set(MANIFEST_COLUMNS):
        raise PixelwiseError(
            f"manifest '{path}' has the columns {sorted(columns)}; it needs image and mask, "
            "and may have roi and split"
        )
    samples = [_manifest_sample(row, number, path) for number, row in enumerate(rows, start=2)]
    keys = [sample.key for sample in samples]
    if len(set(keys)) != len(keys):
        raise PixelwiseError(f"manifest '{path}' lists an image twice")
    return samples


def _manifest_sample(row: Mapping[str, str | None], number: int, manifest: Path) -> Sample:
    def existing(column: str) -> Path | None:
        text = (row.get(column) or "").strip()
        if not text:
            if column in ("image", "mask"):
                raise PixelwiseError(f"manifest '{manifest}' line {number}: no {column}")
            return None
        file = Path(text) if Path(text).is_absolute() else manifest.parent / text
        if not file.is_file():
            raise PixelwiseError(f"manifest '{manifest}' line {number}: '{file}' does not exist")
        return file

    image = existing("image")
    split = (row.get("split") or "").strip() or None
    return Sample(image, existing("mask"), str(image), existing("roi"), split)  # type: ignore[arg-type]


def read_split_files(files: Mapping[str, str | Path]) -> dict[str, str]:
    """Key -> split from split files (split name -> file of keys, one a line; blank lines
    and ``#`` comments skipped); a key in two files is an error."""
    assigned: dict[str, str] = {}
    for split, file in files.items():
        try:
            lines = Path(file).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise PixelwiseError(f"cannot read split file '{file}': {error}") from None
        for line in lines:
            key = line.split("#", 1)[0].strip()
            if not key:
                continue
            if key in assigned and assigned[key] != split:
                raise PixelwiseError(f"{key!r} is in both the {assigned[key]} and {split} files")
            assigned[key] = split
    return assigned


def with_split_files(samples: list[Sample], files: Mapping[str, str | Path]) -> list[Sample]:
    """``samples`` with their splits from split files: a listed key must be a sample's key
    (or its image's stem); samples listed nowhere have no split."""
    assigned = read_split_files(files)
    known = {s.key: s for s in samples} | {s.image.stem: s for s in samples}
    unknown = sorted(set(assigned) - set(known))
    if unknown:
        raise PixelwiseError(
            f"the split files list {unknown[0]!r}, which is no sample's key or image stem"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
        )
    chosen = {id(known[key]): split for key, split in assigned.items()}
    return [Sample(s.image, s.mask, s.key, s.roi, chosen.get(id(s))) for s in samples]


def select_split(samples: list[Sample], split: str, val_fraction: float, seed: int) -> list[Sample]:
    """The samples of ``split``: ``all``; the named split when the samples carry splits
    (files or a manifest column); else ``train``/``val`` cut at random (seeded): sorted by
    key, the last ``val_fraction`` of a seeded permutation (at least one) is ``val``."""
    if split == "all":
        return samples
    if any(s.split is not None for s in samples):
        chosen = [s for s in samples if s.split == split]
        if not chosen:
            names = sorted({s.split for s in samples if s.split is not None})
            raise PixelwiseError(f"no sample is in split {split!r}; the splits: {', '.join(names)}")
        return chosen
    if split not in ("train", "val"):
        raise PixelwiseError(f"unknown split '{split}'; choose from: all, train, val")
    if not 0 < val_fraction < 1:
        raise PixelwiseError(f"val_fraction must lie between 0 and 1, got {val_fraction}")
    ordered = sorted(samples, key=lambda s: s.key)
    num_val = max(1, round(len(ordered) * val_fraction))
    if num_val >= len(ordered):
        raise PixelwiseError(
            f"cannot split {len(ordered)} pairs into train and val with val_fraction {val_fraction}"
        )
    order = np.random.default_rng(seed).permutation(len(ordered))
    picked = order[-num_val:] if split == "val" else order[:-num_val]
    return [ordered[i] for i in sorted(picked)]

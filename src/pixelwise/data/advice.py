"""What ``data inspect`` advises for a folder of images and masks: the flags that read it.

:func:`advise` looks at the file names and at a sample of the masks, as they are stored,
and recognises the layouts that the folder reader takes with a flag:

- names whose stems do not match but share a number (``0001_img.tif``,
  ``0001_gt.gif``): ``--pair-key``;
- masks that store 0 and 255: ``--mask-values 0:0,255:1``;
- masks with many values piled near 0 and 255 (JPEG, resampled): ``--binarize 127``;
- colour masks: a colour table, whose template (every colour found, with its pixel
  count) is written for the user to name the classes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pixelwise.data.colours import colour_template
from pixelwise.data.io import list_images, read_mask, read_rgb_mask
from pixelwise.data.pairing import index_by_key, key_pattern
from pixelwise.errors import PixelwiseError

SAMPLE = 20
"""Masks read for the advice."""
KEY_PATTERNS = (r"^(\d+)", r"(\d+)")
"""Key patterns tried when stems do not pair: a leading number, any first number."""
COLOUR_TEMPLATE = "colors.txt"


@dataclass
class Advice:
    """Lines of advice, each naming the flag to add, and a colour table to fill in (or None)."""

    lines: list[str] = field(default_factory=list)
    colour_table: str | None = None


def _pairs(images: list[Path], masks: list[Path], pattern: str | None) -> int:
    try:
        image_keys, _ = index_by_key(images, key_pattern(pattern), Path())
        mask_keys, _ = index_by_key(masks, key_pattern(pattern), Path())
    except PixelwiseError:  # a key shared by two files: this pattern does not pair them
        return 0
    return len(set(image_keys) & set(mask_keys))


def _pairing(images: list[Path], masks: list[Path], given: str | None) -> list[str]:
    by_stem = _pairs(images, masks, given)
    if given is not None or by_stem == len(images):
        return []
    best = max(KEY_PATTERNS, key=lambda p: _pairs(images, masks, p))
    found = _pairs(images, masks, best)
    if found <= by_stem:
        return []
    return [f"{len(images) - by_stem} of {len(images)} images have no mask of the same stem; "
            f"the first number of each name pairs {found}: add --pair-key '{best}'"]  # fmt: skip


def _mask_kind(masks: list[Path]) -> tuple[list[str], str | None]:
    colours: Counter[tuple[int, int, int]] = Counter()
    values: Counter[int] = Counter()
    coloured = 0
    for mask in masks[:SAMPLE]:
        try:
            stored = read_mask(mask)
        except PixelwiseError:  # a colour mask; or unreadable, which the inspection reports
            try:
                rgb = read_rgb_mask(mask).reshape(-1, 3)
            except PixelwiseError:
                continue
            found, counts = np.unique(rgb, axis=0, return_counts=True)
            colours.update(
                {tuple(int(v) for v in c): int(n) for c, n in zip(found, counts, strict=True)}
            )
            coloured += 1
            continue
        found, counts = np.unique(stored, return_counts=True)
        values.update({int(v): int(n) for v, n in zip(found, counts, strict=True)})
    if coloured:
        line = (f"masks are RGB with {len(colours)} colours (in {coloured} of the "
                f"{min(len(masks), SAMPLE)} read): name each colour's class in the template "
                f"{COLOUR_TEMPLATE} and add --mask-colors {COLOUR_TEMPLATE}")  # fmt: skip
        return [line], colour_template(dict(colours))
    return _value_advice(values, min(len(masks), SAMPLE)), None


def _value_advice(values: Counter[int], read: int) -> list[str]:
    if set(values) == {0, 255}:
        return [f"masks hold the values {{0, 255}} in the {read} read: add --mask-values "
                "0:0,255:1"]  # fmt: skip
    total = sum(values.values())
    extremes = sum(n for v, n in values.items() if v < 32 or v > 223)
    if len(values) > 8 and extremes / total > 0.95:
        return [f"masks hold {len(values)} values, {extremes / total:.0%} of the pixels near "
                "0 or 255 (JPEG, or resampled): add --binarize 127"]  # fmt: skip
    return []


def advise(options: dict[str, Any]) -> Advice:
    """The advice for folder data with these dataset ``options`` (none for a manifest)."""
    images, masks = options.get("images"), options.get("masks")
    if images is None or masks is None or not Path(images).is_dir() or not Path(masks).is_dir():
        return Advice()
    try:
        image_files, mask_files = list_images(Path(images)), list_images(Path(masks))
    except PixelwiseError:  # an empty folder: the reader's own error says so
        return Advice()
    lines = _pairing(image_files, mask_files, options.get("pair_key"))
    rule_given = any(options.get(k) is not None for k in ("mask_values", "binarize",
                                                          "mask_colors"))  # fmt: skip
    if rule_given:
        return Advice(lines)
    kind, template = _mask_kind(mask_files)
    return Advice(lines + kind, template)

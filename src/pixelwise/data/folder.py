"""Your own images and masks, as they come: folders, keys, manifests, colours, regions, splits.

The ``folder`` dataset takes the samples from an image folder and a mask folder (paired
by stem, or by a key pattern; optionally a folder of regions of interest paired the same
way), or from a manifest CSV; it reads masks by one rule (as stored, a value map with
``*``, a threshold, or a colour table: :mod:`pixelwise.data.masks`); and it takes its
splits from split files, the manifest's ``split`` column, or a seeded random cut
(:mod:`pixelwise.data.pairing`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.colours import ColourTable, parse_colour_table
from pixelwise.data.masks import CATCH_ALL, MaskRule, format_map
from pixelwise.data.paired import PairedFileDataset
from pixelwise.data.pairing import (
    Sample,
    pair_folders,
    read_manifest,
    select_split,
    with_split_files,
)
from pixelwise.errors import PixelwiseError

logger = logging.getLogger("pixelwise")


def _classes_from_masks(samples: Sequence[Sample], rule: MaskRule, ignore_index: int) -> int:
    """Scan every mask; the class count is the largest value other than the ignore index + 1."""
    largest = -1
    for sample in tqdm(samples, desc="scanning the masks"):
        values = rule.read(sample.mask, ignore_index)
        values = values[values != ignore_index]
        if values.size:
            largest = max(largest, int(values.max()))
    if largest < 0:
        raise PixelwiseError("the masks hold no class values; pass the classes")
    logger.info(
        "the masks hold values up to %d: using %d classes class0..class%d",
        largest, largest + 1, largest,
    )  # fmt: skip
    return largest + 1


def _samples(
    images: str | Path | None,
    masks: str | Path | None,
    manifest: str | Path | None,
    roi: str | Path | None,
    pair_key: str | None,
    skip_unpaired: bool,
) -> list[Sample]:
    if manifest is not None:
        if images is not None or masks is not None or roi is not None:
            raise PixelwiseError("give a manifest, or image and mask folders, not both")
        return read_manifest(manifest)
    if images is None or masks is None:
        raise PixelwiseError("folder data needs the options 'images' and 'masks' (--images, "
                             "--masks), or 'manifest' (--manifest)")  # fmt: skip
    return pair_folders(images, masks, roi, pair_key, skip_unpaired)


def _rule(
    mask_values: Mapping | None, binarize: float | None, colours: ColourTable | None
) -> MaskRule:
    return MaskRule(dict(mask_values) if mask_values is not None else None, binarize, colours)


def _class_names(
    classes: Sequence[str] | None, rule: MaskRule, samples: Sequence[Sample], ignore: int
) -> list[str]:
    """The classes given, else the colour table's, else two for a threshold, else the
    targets of the value map, else as many as the masks hold."""
    if rule.colours is not None:
        if classes is not None and tuple(classes) != rule.colours.classes:
            raise PixelwiseError(
                f"the classes {list(classes)} differ from the colour table's "
                f"{list(rule.colours.classes)}; give one of them"
            )
        return list(rule.colours.classes)
    if classes is not None:
        return list(classes)
    if rule.binarize is not None:
        return ["background", "foreground"]
    if rule.value_map is not None:
        targets = [v for v in rule.value_map.values() if v != ignore]
        if not targets:
            raise PixelwiseError(f"mask value map {format_map(rule.value_map)} names no class")
        return [f"class{i}" for i in range(max(targets) + 1)]
    return [f"class{i}" for i in range(_classes_from_masks(samples, rule, ignore))]


def folder_dataset(
    images: str | Path | None = None,
    masks: str | Path | None = None,
    split: str = "all",
    classes: Sequence[str] | None = None,
    mask_values: Mapping[int | str, int] | None = None,
    ignore_index: int = 255,
    channels: int = 3,
    val_fraction: float = 0.2,
    seed: int = 0,
    skip_unpaired: bool = False,
    pair_key: str | None = None,
    manifest: str | Path | None = None,
    roi: str | Path | None = None,
    mask_colors: str | None = None,
    binarize: float | None = None,
    split_files: Mapping[str, str | Path] | None = None,
) -> PairedFileDataset:
    """The samples of a folder dataset (see the module docstring).

    ``images``/``masks`` (folders, paired by stem or by the key pattern ``pair_key``;
    ``roi`` a folder of region masks paired alike) or ``manifest`` (a CSV); an image
    without a partner is an error, or left out with ``skip_unpaired``. Masks are read as
    stored, or by ``mask_values`` (``*`` for every other value), ``binarize`` (a
    threshold) or ``mask_colors`` (a colour table, inline or a file). Classes come from
    ``classes``, the colour table, the threshold (two), the value map's targets, or the
    masks' largest value. ``split`` is "all" or a split named by ``split_files``
    (split -> file of keys) or the manifest, else "train"/"val" cut at random with
    ``val_fraction`` and ``seed``.
    """
    if mask_values is not None and CATCH_ALL in mask_values and len(mask_values) == 1:
        raise PixelwiseError("a mask value map of '*' alone maps everything to one class")
    colours = parse_colour_table(mask_colors) if mask_colors is not None else None
    rule = _rule(mask_values, binarize, colours)
    samples = _samples(images, masks, manifest, roi, pair_key, skip_unpaired)
    if not samples:
        raise PixelwiseError(f"no image in '{images}' has a mask of its key in '{masks}'")
    if split_files:
        samples = with_split_files(samples, split_files)
    names = _class_names(classes, rule, samples, ignore_index)
    palette = rule.colours.class_colours() if rule.colours is not None else None
    info = DatasetInfo(
        classes=tuple(names),
        colours=palette or default_colours(len(names)),
        ignore_index=ignore_index,
        channels=channels,
    )
    chosen = select_split(samples, split, val_fraction, seed)
    name = f"{Path(images).name if images else Path(manifest).name} {split}"  # type: ignore[arg-type]
    return PairedFileDataset(
        [(s.image, s.mask) for s in chosen], info, name=name, rule=rule,
        rois=[s.roi for s in chosen],
    )  # fmt: skip

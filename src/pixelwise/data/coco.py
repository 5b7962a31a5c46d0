"""COCO and COCO-Stuff: instance or stuff annotations turned into semantic masks.

Layout under ``root`` (COCO 2017)::

    <folder>/<file_name>                       images, e.g. train2017/000000000009.jpg
    annotations/instances_<folder>.json        or any instance/stuff JSON given

Split "train" is the folder ``train2017`` and "val" is ``val2017``; any other split
names its folder directly (e.g. "val2014").

Classes are background (0) followed by the chosen categories. A pixel takes the class
of the annotations covering it: crowd annotations first mark their pixels as ignored
(255); then non-crowd annotations are painted largest area first, so where they
overlap the smaller annotation wins (equal areas: the higher annotation id wins).
Pixels of a crowd annotation that no non-crowd annotation covers stay ignored.
Annotations of categories that are not chosen count as background.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from pixelwise.data.base import DatasetInfo, SegmentationDataset, default_colours
from pixelwise.data.io import read_image
from pixelwise.errors import PixelwiseError

COCO_SPLITS = {"train": "train2017", "val": "val2017"}
COCO_IGNORE_INDEX = 255
BACKGROUND = "background"
_REQUIRED_KEYS = ("images", "annotations", "categories")


def load_coco(path: Path) -> COCO:
    """Read annotation file ``path`` into a pycocotools index, checking its references."""
    if not path.is_file():
        raise PixelwiseError(f"COCO annotation file '{path}' does not exist")
    try:
        with path.open(encoding="utf-8") as file:
            content = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PixelwiseError(f"cannot read COCO annotation file '{path}': {error}") from error
    missing = [key for key in _REQUIRED_KEYS if not isinstance(content, dict) or key not in content]
    if missing:
        raise PixelwiseError(f"COCO annotation file '{path}' lacks {', '.join(missing)}")
    coco = COCO()
    coco.dataset = content
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    _check_references(coco, path)
    return coco


def _check_references(coco: COCO, path: Path) -> None:
    """Raise if an annotation names an image or category that ``path`` does not define."""
    for annotation in coco.anns.values():
        if annotation["image_id"] not in coco.imgs:
            unknown = f"image id {annotation['image_id']}"
        elif annotation["category_id"] not in coco.cats:
            unknown = f"category id {annotation['category_id']}"
        else:
            continue
        raise PixelwiseError(
            f"annotation {annotation['id']} in '{path}' refers to an unknown {unknown}"
        )


def category_classes(
    coco: COCO, categories: Sequence[str] | None, path: Path
) -> tuple[tuple[str, ...], dict[int, int]]:
    """Class names (background first) and the class index of each chosen category id.

    ``categories`` picks category names in the class order wanted; ``None`` takes every
    category of the file in id order.
    """
    ordered = sorted(coco.cats.values(), key=lambda category: category["id"])
    if categories is None:
        chosen = ordered
    else:
        by_name = {category["name"]: category for category in ordered}
        unknown = [name for name in categories if name not in by_name]
        if unknown:
            raise PixelwiseError(
                f"categories {unknown} are not in '{path}'; it has: {', '.join(by_name)}"
            )
        if len(set(categories)) != len(categories) or BACKGROUND in categories:
            raise PixelwiseError(
                f"categories {list(categories)} must be distinct and leave out '{BACKGROUND}'"
            )
        chosen = [by_name[name] for name in categories]
    classes = (BACKGROUND, *(category["name"] for category in chosen))
    return classes, {category["id"]: index + 1 for index, category in enumerate(chosen)}


def _region(coco: COCO, annotation: dict, shape: tuple[int, int], source: str) -> np.ndarray:
    """The ``(H, W)`` bool pixels of ``annotation`` (polygons or RLE) from file ``source``."""
    try:
        region = coco.annToMask(annotation).astype(bool)
    except Exception as error:  # pycocotools raises bare Exception on bad segmentations
        raise PixelwiseError(
            f"annotation {annotation['id']} in {source} has an unreadable segmentation: {error}"
        ) from error
    if region.shape != shape:
        raise PixelwiseError(
            f"annotation {annotation['id']} in {source} is {region.shape[1]}x{region.shape[0]} "
            f"(WxH) but its image {annotation['image_id']} is {shape[1]}x{shape[0]}"
        )
    return region


def semantic_mask(
    coco: COCO, image_id: int, class_of: dict[int, int], ignore_index: int, source: str
) -> np.ndarray:
    """The ``(H, W)`` int64 class mask of image ``image_id``, by the module's overlap rule.

    ``source`` names the annotation file in error messages.
    """
    image = coco.imgs[image_id]
    mask = np.zeros((image["height"], image["width"]), dtype=np.int64)
    annotations = [a for a in coco.imgToAnns[image_id] if a["category_id"] in class_of]
    regions = [(a, _region(coco, a, mask.shape, source)) for a in annotations]
    for annotation, region in regions:
        if annotation.get("iscrowd", 0):
            mask[region] = ignore_index
    solid = [(a, r) for a, r in regions if not a.get("iscrowd", 0)]
    for annotation, region in sorted(solid, key=lambda ar: (-int(ar[1].sum()), ar[0]["id"])):
        mask[region] = class_of[annotation["category_id"]]
    return mask


class CocoDataset(SegmentationDataset):
    """Every image of a COCO annotation file (id order), with masks drawn from its annotations.

    ``self[i]`` returns image ``(H, W, 3)`` uint8 and mask ``(H, W)`` int64.
    """

    def __init__(
        self, coco: COCO, images: Path, info: DatasetInfo, class_of: dict[int, int], name: str
    ) -> None:
        self.coco = coco
        self.info = info
        self.class_of = class_of
        self.name = name
        self.image_ids = sorted(coco.imgs)
        self.paths = [images / coco.imgs[i]["file_name"] for i in self.image_ids]
        for path in self.paths:
            if not path.is_file():
                raise PixelwiseError(f"image '{path}', listed in {name}, does not exist")

    def __len__(self) -> int:
        return len(self.image_ids)

    def stem(self, index: int) -> str:
        return self.paths[index].stem

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image = read_image(self.paths[index], self.info.channels)
        mask = semantic_mask(
            self.coco, self.image_ids[index], self.class_of, self.info.ignore_index, self.name
        )
        if image.shape[:2] != mask.shape:
            raise PixelwiseError(
                f"image '{self.paths[index]}' is {image.shape[1]}x{image.shape[0]} (WxH) but "
                f"{self.name} gives it as {mask.shape[1]}x{mask.shape[0]}"
            )
        return image, mask


def coco_dataset(
    root: str | Path,
    split: str,
    annotations: str | Path | None = None,
    categories: Sequence[str] | None = None,
) -> CocoDataset:
    """COCO ``split`` with semantic masks from instance or stuff annotations.

    ``annotations`` is the JSON file (relative paths are taken from ``root``); by default
    ``annotations/instances_<folder>.json``. ``categories`` chooses category names and
    their class order (class 1 onward); other categories count as background.
    """
    root = Path(root)
    folder = COCO_SPLITS.get(split, split)
    images = root / folder
    if not images.is_dir():
        raise PixelwiseError(f"COCO image folder '{images}' does not exist")
    path = root / (annotations or Path("annotations") / f"instances_{folder}.json")
    coco = load_coco(path)
    classes, class_of = category_classes(coco, categories, path)
    info = DatasetInfo(classes, default_colours(len(classes)), ignore_index=COCO_IGNORE_INDEX)
    return CocoDataset(coco, images, info, class_of, name=f"'{path}'")

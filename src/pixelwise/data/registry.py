"""Every dataset by name: ``load_dataset`` builds one split, ``load_split`` a configured one.

Each dataset's module is imported only when that dataset is built, so naming the
datasets (``list_datasets``) costs nothing.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pixelwise.config import DataSection
from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError


@dataclass(frozen=True)
class DatasetSpec:
    """How :func:`load_dataset` builds a named dataset.

    ``function`` in module ``module`` makes it; it takes ``split``, ``root`` when
    ``needs_root``, and keyword options. ``description`` is one line for help text.
    """

    module: str
    function: str
    needs_root: bool
    description: str

    def builder(self) -> Callable[..., SegmentationDataset]:
        """The callable that makes the dataset, imported now."""
        return getattr(importlib.import_module(self.module), self.function)


DATASETS: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(
        "pixelwise.data.synthetic",
        "SyntheticShapes",
        needs_root=False,
        description="generated circles, squares and triangles on texture (no files)",
    ),
    "folder": DatasetSpec(
        "pixelwise.data.folder",
        "folder_dataset",
        needs_root=False,
        description="an image folder and a mask folder of the same file stems",
    ),
    "camvid": DatasetSpec(
        "pixelwise.data.camvid",
        "camvid_dataset",
        needs_root=True,
        description="CamVid road scenes, SegNet version: 11 classes",
    ),
    "isbi2012": DatasetSpec(
        "pixelwise.data.isbi2012",
        "isbi2012_dataset",
        needs_root=True,
        description="ISBI 2012 EM slices: membrane and cell",
    ),
    "voc": DatasetSpec(
        "pixelwise.data.voc",
        "voc_dataset",
        needs_root=True,
        description="PASCAL VOC 2012 segmentation: background and 20 object classes",
    ),
    "cityscapes": DatasetSpec(
        "pixelwise.data.cityscapes",
        "cityscapes_dataset",
        needs_root=True,
        description="Cityscapes fine annotations: 19 classes (labelIds -> trainIds)",
    ),
    "kitti": DatasetSpec(
        "pixelwise.data.kitti",
        "kitti_dataset",
        needs_root=True,
        description="KITTI semantic segmentation: Cityscapes' 19 classes",
    ),
    "coco": DatasetSpec(
        "pixelwise.data.coco",
        "coco_dataset",
        needs_root=True,
        description="COCO / COCO-Stuff: semantic masks from instance or stuff annotations",
    ),
}


def list_datasets() -> dict[str, str]:
    """Each dataset name that :func:`load_dataset` takes, with its one-line description."""
    return {name: spec.description for name, spec in DATASETS.items()}


def _check_options(name: str, make: Callable[..., SegmentationDataset], options: dict) -> None:
    """Raise on option keys ``make`` does not take, or required ones that are missing."""
    parameters = inspect.signature(make).parameters
    accepted = [p for p in parameters if p not in ("split", "root")]
    for key in options:
        if key not in accepted:
            valid = ", ".join(accepted) or "none"
            raise PixelwiseError(f"unknown option '{key}' for dataset '{name}'; valid: {valid}")
    for key in accepted:
        if parameters[key].default is inspect.Parameter.empty and key not in options:
            raise PixelwiseError(f"dataset '{name}' needs the option '{key}'")


def load_dataset(
    name: str, split: str, root: str | Path | None = None, **options
) -> SegmentationDataset:
    """Build dataset ``name`` (one of :data:`DATASETS`, e.g. "camvid", "voc") for ``split``.

    ``root`` is the dataset folder for those that need one, and must be left out for
    the others. ``options`` are the keyword arguments of the dataset's builder, e.g.
    ``images=`` and ``masks=`` for "folder" (see :func:`pixelwise.data.folder.folder_dataset`).
    """
    if name not in DATASETS:
        raise PixelwiseError(f"unknown dataset '{name}'; choose from: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    make = spec.builder()
    _check_options(name, make, options)
    if not spec.needs_root:
        if root is not None:
            raise PixelwiseError(f"dataset '{name}' takes no root folder, got '{root}'")
        return make(split=split, **options)
    if root is None:
        raise PixelwiseError(f"dataset '{name}' needs a root folder")
    if not Path(root).is_dir():
        raise PixelwiseError(f"dataset root '{root}' does not exist")
    return make(root, split, **options)


def load_split(data: DataSection, split: str, check: bool = True) -> SegmentationDataset:
    """One split of the configured dataset; with ``check``, every sample is read and checked now."""
    dataset = load_dataset(data.name, split, root=data.root, **data.options_for(split))
    validate = getattr(dataset, "validate", None)
    if check and validate is not None:
        validate()
    return dataset

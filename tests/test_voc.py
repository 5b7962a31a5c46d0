"""PASCAL VOC 2012 on a tiny copy of its layout built in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelwise.data.base import default_colours
from pixelwise.data.io import write_png_atomic
from pixelwise.data.registry import load_dataset
from pixelwise.data.voc import VOC_CLASSES
from test_datasets import raises, rgb, save

HEIGHT, WIDTH = 8, 10
MASK_VALUES = [0, 1, 15, 255]


def make_voc(root: Path, split: str, ids: list[str]) -> None:
    """JPEGs, palette-PNG masks cycling through :data:`MASK_VALUES`, and the split file."""
    values = np.resize(np.array(MASK_VALUES, dtype=np.uint8), (HEIGHT, WIDTH))
    for i, image_id in enumerate(ids):
        save(root / "JPEGImages" / f"{image_id}.jpg", rgb(i, HEIGHT, WIDTH))
        write_png_atomic(
            root / "SegmentationClass" / f"{image_id}.png", values, palette=default_colours(256)
        )
    split_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    split_file.parent.mkdir(parents=True, exist_ok=True)
    split_file.write_text("".join(f"{image_id}\n" for image_id in ids))


def test_voc(tmp_path):
    make_voc(tmp_path, "train", ["2007_000039", "2007_000032"])
    data = load_dataset("voc", "train", root=tmp_path)
    assert [data.stem(i) for i in range(len(data))] == ["2007_000039", "2007_000032"]
    assert data.info.classes == VOC_CLASSES and len(VOC_CLASSES) == 21
    assert VOC_CLASSES[:2] == ("background", "aeroplane") and VOC_CLASSES[15] == "person"
    assert data.info.colours[15] == (192, 128, 128) and data.info.ignore_index == 255
    image, mask = data[0]
    assert image.shape == (HEIGHT, WIDTH, 3) and mask.shape == (HEIGHT, WIDTH)
    assert sorted(np.unique(mask)) == MASK_VALUES


def test_voc_bad_layout(tmp_path):
    with raises(str(tmp_path / "ImageSets" / "Segmentation" / "val.txt")):
        load_dataset("voc", "val", root=tmp_path)
    make_voc(tmp_path, "val", ["a", "b"])
    (tmp_path / "SegmentationClass" / "b.png").unlink()
    with raises(str(tmp_path / "SegmentationClass" / "b.png"), "val.txt"):
        load_dataset("voc", "val", root=tmp_path)
    (tmp_path / "ImageSets" / "Segmentation" / "val.txt").write_text("a\nmissing\n")
    with raises(str(tmp_path / "JPEGImages" / "missing.jpg")):
        load_dataset("voc", "val", root=tmp_path)

"""KITTI semantic segmentation on a tiny copy of its layout built in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixelwise.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_COLOURS, LABEL_TO_TRAIN_ID
from pixelwise.data.registry import load_dataset
from test_datasets import raises, rgb, save

STORED = np.array([[0, 7, 26, 33], [9, 11, 24, 255]], dtype=np.uint8)
"""Stored labelIds: unlabeled, road, car, bicycle / parking, building, person, 255."""
TRAIN_IDS = np.array([[255, 0, 13, 18], [255, 2, 11, 255]])
"""The same pixels as Cityscapes trainIds, from the official label table, written by hand."""


def make_kitti(root: Path, names: list[str], test_names: tuple[str, ...] = ()) -> None:
    """``training/image_2`` + ``training/semantic`` for ``names``; ``testing/image_2`` images."""
    for i, name in enumerate(names):
        save(root / "training" / "image_2" / f"{name}.png", rgb(i, *STORED.shape))
        save(root / "training" / "semantic" / f"{name}.png", STORED)
    for i, name in enumerate(test_names):
        save(root / "testing" / "image_2" / f"{name}.png", rgb(i, *STORED.shape))


def names(count: int) -> list[str]:
    """KITTI's file names: ``000000_10``, ``000001_10``, ..."""
    return [f"{i:06d}_10" for i in range(count)]


def stems(data) -> list[str]:
    return [data.stem(i) for i in range(len(data))]


def test_label_ids_map_to_cityscapes_train_ids(tmp_path):
    make_kitti(tmp_path, names(1))
    data = load_dataset("kitti", "all", root=tmp_path)
    image, mask = data[0]
    assert image.shape == (*STORED.shape, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(mask, TRAIN_IDS)
    assert data.value_map == LABEL_TO_TRAIN_ID


def test_classes_and_colours_are_cityscapes(tmp_path):
    make_kitti(tmp_path, names(1))
    info = load_dataset("kitti", "all", root=tmp_path).info
    assert info.classes == CITYSCAPES_CLASSES and info.colours == CITYSCAPES_COLOURS
    assert info.num_classes == 19 and info.ignore_index == 255 and info.channels == 3
    assert info.classes[0] == "road" and info.classes[13] == "car"


def test_train_and_val_split_all_deterministically(tmp_path):
    make_kitti(tmp_path, names(10))
    train = load_dataset("kitti", "train", root=tmp_path)
    val = load_dataset("kitti", "val", root=tmp_path)
    every = load_dataset("kitti", "all", root=tmp_path)
    assert stems(every) == names(10)
    assert len(train) == 8 and len(val) == 2  # val_fraction 0.2
    assert sorted(stems(train) + stems(val)) == names(10)
    assert stems(train) == sorted(stems(train)) and stems(val) == sorted(stems(val))
    assert stems(load_dataset("kitti", "val", root=tmp_path, seed=0)) == stems(val)
    half = load_dataset("kitti", "val", root=tmp_path, val_fraction=0.5)
    assert len(half) == 5
    by_seed = {tuple(stems(load_dataset("kitti", "val", root=tmp_path, seed=s))) for s in range(5)}
    assert len(by_seed) > 1


def test_test_split_has_no_labels(tmp_path):
    make_kitti(tmp_path, names(2), test_names=("000000_10",))
    folder = tmp_path / "testing" / "image_2"
    with raises("'test' has no labels", "pixelwise predict", str(folder), "train, val, all"):
        load_dataset("kitti", "test", root=tmp_path)


def test_unknown_split_and_bad_val_fraction(tmp_path):
    make_kitti(tmp_path, names(3))
    with raises("'training'", "train, val, all"):
        load_dataset("kitti", "training", root=tmp_path)
    with raises("val_fraction", "1.5"):
        load_dataset("kitti", "val", root=tmp_path, val_fraction=1.5)
    with raises("'stride'", "val_fraction", "seed"):
        load_dataset("kitti", "train", root=tmp_path, stride=2)


def test_missing_or_empty_folders_name_their_path(tmp_path):
    images, masks = tmp_path / "training" / "image_2", tmp_path / "training" / "semantic"
    with raises(str(images), "does not exist"):
        load_dataset("kitti", "train", root=tmp_path)
    images.mkdir(parents=True)
    with raises(str(images), "no image files"):
        load_dataset("kitti", "all", root=tmp_path)
    save(images / "000000_10.png", rgb(0, *STORED.shape))
    with raises(str(masks), "does not exist"):
        load_dataset("kitti", "all", root=tmp_path)


def test_image_without_a_mask_is_an_error(tmp_path):
    make_kitti(tmp_path, names(3))
    (tmp_path / "training" / "semantic" / "000001_10.png").unlink()
    image = tmp_path / "training" / "image_2" / "000001_10.png"
    with raises(str(image), str(tmp_path / "training" / "semantic")):
        load_dataset("kitti", "all", root=tmp_path)


@pytest.mark.data
def test_real_kitti(shared_data):
    root = shared_data / "kitti"
    if not root.is_dir():
        pytest.skip(f"'{root}' is absent")
    train = load_dataset("kitti", "train", root=root)
    val = load_dataset("kitti", "val", root=root)
    assert (len(train), len(val)) == (160, 40)
    image, mask = val[0]
    assert image.shape[:2] == mask.shape
    labels = np.unique(mask)
    assert ((labels < 19) | (labels == 255)).all()

"""Cityscapes on a tiny copy of its layout built in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixelwise.data.cityscapes import CITYSCAPES_CLASSES, LABEL_TO_TRAIN_ID
from pixelwise.data.registry import load_dataset
from test_datasets import raises, rgb, save

HEIGHT, WIDTH = 8, 10
LABEL_IDS = [0, 7, 9, 26, 33, 255]
"""Stored labelIds: unlabeled, road, parking (unevaluated), car, bicycle, 255."""


def make_cityscapes(root: Path, split: str, cities: dict[str, list[str]]) -> None:
    """``leftImg8bit`` images and ``gtFine`` labelIds masks for each city's names."""
    labels = np.resize(np.array(LABEL_IDS, dtype=np.uint8), (HEIGHT, WIDTH))
    for city, names in cities.items():
        for i, name in enumerate(names):
            save(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png", rgb(i, 8, 10))
            save(root / "gtFine" / split / city / f"{name}_gtFine_labelIds.png", labels)


@pytest.mark.parametrize(
    ("label_id", "train_id"),
    [
        (0, 255),
        (1, 255),
        (6, 255),
        (7, 0),
        (8, 1),
        (9, 255),
        (11, 2),
        (17, 5),
        (23, 10),
        (24, 11),
        (26, 13),
        (29, 255),
        (31, 16),
        (33, 18),
        (34, 255),
        (255, 255),
    ],
)
def test_label_to_train_id(label_id, train_id):
    assert LABEL_TO_TRAIN_ID[label_id] == train_id


def test_train_ids_cover_the_classes():
    assert sorted(v for v in LABEL_TO_TRAIN_ID.values() if v != 255) == list(range(19))
    assert CITYSCAPES_CLASSES[13] == "car" and len(CITYSCAPES_CLASSES) == 19


def test_cityscapes(tmp_path):
    make_cityscapes(tmp_path, "val", {"lindau": ["lindau_000001_000019"], "frankfurt": ["f_1"]})
    data = load_dataset("cityscapes", "val", root=tmp_path)
    assert [data.stem(i) for i in range(len(data))] == [
        "f_1_leftImg8bit",
        "lindau_000001_000019_leftImg8bit",
    ]
    assert data.pairs[1][1] == (
        tmp_path / "gtFine" / "val" / "lindau" / "lindau_000001_000019_gtFine_labelIds.png"
    )
    assert data.info.ignore_index == 255 and data.info.colours[0] == (128, 64, 128)
    image, mask = data[0]
    assert image.shape == (HEIGHT, WIDTH, 3)
    assert sorted(np.unique(mask)) == [0, 13, 18, 255]


def test_cityscapes_bad_layout(tmp_path):
    with raises("'foo'", "train, val, test"):
        load_dataset("cityscapes", "foo", root=tmp_path)
    with raises(str(tmp_path / "leftImg8bit" / "train")):
        load_dataset("cityscapes", "train", root=tmp_path)
    make_cityscapes(tmp_path, "train", {"ulm": ["u_1", "u_2"]})
    mask = tmp_path / "gtFine" / "train" / "ulm" / "u_2_gtFine_labelIds.png"
    mask.unlink()
    with raises("u_2_leftImg8bit.png", str(mask)):
        load_dataset("cityscapes", "train", root=tmp_path)

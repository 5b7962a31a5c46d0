"""COCO on a tiny annotation file and image folder built in ``tmp_path``.

Image 1 (10x8) holds a person polygon over columns 0..6, a smaller cat (compressed
RLE) inside it at rows 2..3, columns 2..3, and a crowd of dogs (uncompressed RLE)
over columns 5..9. Image 2 has no annotations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pixelwise.data.registry import load_dataset
from test_datasets import raises, rgb, save

HEIGHT, WIDTH = 8, 10
PERSON, CAT, DOG = 1, 3, 7


def box(rows: slice, cols: slice) -> np.ndarray:
    """A ``(HEIGHT, WIDTH)`` uint8 mask that is 1 inside ``rows`` x ``cols``."""
    region = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    region[rows, cols] = 1
    return region


def compressed_rle(region: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(region))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(region: np.ndarray) -> dict:
    """Run lengths of the column-major pixels, starting with a run of zeros."""
    flat = region.flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    counts = np.diff(bounds).tolist()
    return {"size": [HEIGHT, WIDTH], "counts": ([0] if flat[0] else []) + counts}


def annotation(id_: int, category: int, segmentation, crowd: int = 0) -> dict:
    return {
        "id": id_,
        "image_id": 1,
        "category_id": category,
        "segmentation": segmentation,
        "iscrowd": crowd,
        "area": 0,
        "bbox": [0, 0, 1, 1],
    }


def coco_content() -> dict:
    images = [
        {"id": i, "file_name": f"00000000000{i}.jpg", "height": HEIGHT, "width": WIDTH}
        for i in (2, 1)
    ]
    categories = [{"id": i, "name": n} for i, n in [(CAT, "cat"), (PERSON, "person"), (DOG, "dog")]]
    annotations = [
        annotation(1, PERSON, [[0, 0, 7, 0, 7, 8, 0, 8]]),
        annotation(2, CAT, compressed_rle(box(slice(2, 4), slice(2, 4)))),
        annotation(3, DOG, uncompressed_rle(box(slice(None), slice(5, 10))), crowd=1),
    ]
    return {"images": images, "annotations": annotations, "categories": categories}


def make_coco(root: Path, folder: str = "val2017", content: dict | None = None) -> Path:
    """Images in ``root/<folder>``; returns the written ``annotations/instances_<folder>.json``."""
    content = content or coco_content()
    for image in content["images"]:
        save(root / folder / image["file_name"], rgb(image["id"], image["height"], WIDTH))
    path = root / "annotations" / f"instances_{folder}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def test_coco_default_categories(tmp_path):
    make_coco(tmp_path)
    data = load_dataset("coco", "val", root=tmp_path)
    assert data.info.classes == ("background", "person", "cat", "dog")
    assert data.info.ignore_index == 255
    assert [data.stem(i) for i in range(len(data))] == ["000000000001", "000000000002"]
    image, mask = data[0]
    assert image.shape == (HEIGHT, WIDTH, 3) and mask.dtype == np.int64
    want = np.zeros((HEIGHT, WIDTH), dtype=np.int64)
    want[:, 7:] = 255
    want[:, :7] = 1
    want[2:4, 2:4] = 2
    assert np.array_equal(mask, want)
    assert not data[1][1].any()


@pytest.mark.parametrize(
    ("categories", "person", "cat", "crowd"),
    [(["dog", "person"], 2, 2, 255), (["cat"], 0, 1, 0)],
)
def test_coco_chosen_categories(tmp_path, categories, person, cat, crowd):
    make_coco(tmp_path)
    data = load_dataset("coco", "val", root=tmp_path, categories=categories)
    assert data.info.classes == ("background", *categories)
    want = np.zeros((HEIGHT, WIDTH), dtype=np.int64)
    want[:, 5:] = crowd
    if person:
        want[:, :7] = person
    want[2:4, 2:4] = cat
    assert np.array_equal(data[0][1], want)


def test_coco_given_annotation_file_and_folder_split(tmp_path):
    path = make_coco(tmp_path, folder="train2014")
    stuff = path.rename(tmp_path / "annotations" / "stuff_train2014.json")
    data = load_dataset(
        "coco", "train2014", root=tmp_path, annotations="annotations/stuff_train2014.json"
    )
    assert len(data) == 2
    assert len(load_dataset("coco", "train2014", root=tmp_path, annotations=stuff)) == 2


def test_coco_bad_layout(tmp_path):
    with raises(str(tmp_path / "train2017")):
        load_dataset("coco", "train", root=tmp_path)
    path = make_coco(tmp_path)
    with raises("'zebra'", "person"):
        load_dataset("coco", "val", root=tmp_path, categories=["zebra"])
    (tmp_path / "val2017" / "000000000002.jpg").unlink()
    with raises(str(tmp_path / "val2017" / "000000000002.jpg"), str(path)):
        load_dataset("coco", "val", root=tmp_path)
    path.write_text("{not json")
    with raises("cannot read", str(path)):
        load_dataset("coco", "val", root=tmp_path)
    path.unlink()
    with raises(str(path)):
        load_dataset("coco", "val", root=tmp_path)


def test_coco_bad_annotations(tmp_path):
    content = coco_content()
    content["annotations"][0]["image_id"] = 99
    path = make_coco(tmp_path, content=content)
    with raises("annotation 1", str(path), "image id 99"):
        load_dataset("coco", "val", root=tmp_path)
    content = coco_content()
    content["images"][1]["width"] = WIDTH + 2
    path = make_coco(tmp_path, content=content)
    data = load_dataset("coco", "val", root=tmp_path)
    with raises("annotation 2", str(path), "12x8"):
        data[0]

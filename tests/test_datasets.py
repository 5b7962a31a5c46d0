"""Image/mask IO and the file datasets, on tiny folders built in ``tmp_path``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from pixelwise.config import DataSection
from pixelwise.data.camvid import CAMVID_CLASSES
from pixelwise.data.folder import folder_dataset
from pixelwise.data.io import list_images, read_image, read_mask, write_png_atomic
from pixelwise.data.registry import DATASETS, list_datasets, load_dataset, load_split
from pixelwise.errors import PixelwiseError
from pixelwise.options import parse_mask_values

HEIGHT, WIDTH = 6, 8


def save(path: Path, array: np.ndarray) -> Path:
    """Save ``array`` (uint8 ``(H, W)`` or ``(H, W, 3)``) in the format of ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def rgb(seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def label(values: list[int], height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A ``(H, W)`` uint8 mask cycling through ``values``."""
    return np.resize(np.array(values, dtype=np.uint8), (height, width))


def make_pairs(
    root: Path, stems: list[str], values: list[int], image_suffix: str = ".png"
) -> tuple[Path, Path]:
    """``root/images/<stem><image_suffix>`` and ``root/masks/<stem>.png``; returns both folders."""
    for i, stem in enumerate(stems):
        save(root / "images" / f"{stem}{image_suffix}", rgb(i))
        save(root / "masks" / f"{stem}.png", label(values))
    return root / "images", root / "masks"


def raises(*fragments: str):
    """``pytest.raises(PixelwiseError)`` whose message contains every fragment."""
    return pytest.raises(
        PixelwiseError, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments)
    )


def encoded(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt)
    return buffer.getvalue()


# --- io ---------------------------------------------------------------------------------


def test_read_image_channels(tmp_path):
    path = save(tmp_path / "a.png", rgb())
    assert read_image(path).shape == (HEIGHT, WIDTH, 3)
    gray = read_image(path, channels=1)
    assert gray.shape == (HEIGHT, WIDTH, 1) and gray.dtype == np.uint8


def test_read_mask_modes(tmp_path):
    values = label([0, 3, 7])
    grey_rgb = save(tmp_path / "grey.png", np.repeat(values[..., None], 3, axis=2))
    assert np.array_equal(read_mask(grey_rgb), values)
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(values.astype(np.uint16) * 1000).save(sixteen)
    assert read_mask(sixteen).max() == 7000
    with raises("grey.jpg", "colour"):
        read_mask(save(tmp_path / "grey.jpg", rgb()))


def test_write_png_atomic_palette_roundtrip(tmp_path):
    path = tmp_path / "out" / "mask.png"
    indices = label([0, 1, 2])
    write_png_atomic(path, indices, palette=[(0, 0, 0), (255, 0, 0), (0, 255, 0)])
    with Image.open(path) as image:
        assert image.mode == "P"
    assert np.array_equal(read_mask(path), indices)
    assert [p.name for p in path.parent.iterdir()] == ["mask.png"]


@pytest.mark.parametrize("reader", [read_image, read_mask])
@pytest.mark.parametrize("kind", ["random.png", "truncated.png", "truncated.jpg"])
def test_corrupt_and_truncated_files(tmp_path, reader, kind):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    fmt = "JPEG" if kind.endswith(".jpg") else "PNG"
    data = encoded(rgb(height=64, width=64), fmt)
    content = (
        np.random.default_rng(0).bytes(200) if kind.startswith("random") else data[: len(data) // 2]
    )
    path = tmp_path / kind
    path.write_bytes(content)
    with raises("cannot read image", kind):
        reader(path)


def test_list_images(tmp_path):
    save(tmp_path / "b.PNG", rgb())
    save(tmp_path / "a.jpg", rgb())
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG"]
    with raises("missing"):
        list_images([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with raises("no image files", "empty"):
        list_images([tmp_path / "empty"])


def test_parse_mask_values():
    assert parse_mask_values("0:0, 255:1") == {0: 0, 255: 1}
    with raises("0-1"):
        parse_mask_values("0:0,0-1")
    with raises("appears twice"):
        parse_mask_values("0:0,0:1")


# --- folder -----------------------------------------------------------------------------


def test_folder_pairs_by_stem_with_mixed_suffixes(tmp_path):
    images, masks = make_pairs(tmp_path, ["b", "a"], [0, 1], image_suffix=".jpg")
    save(masks / "extra.png", label([0]))
    data = load_dataset("folder", "all", images=images, masks=masks, classes=["bg", "fg"])
    assert len(data) == 2 and [data.stem(i) for i in range(2)] == ["a", "b"]
    image, mask = data[0]
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.int64
    assert data.info.classes == ("bg", "fg")


def test_folder_value_map_0_255(tmp_path):
    images, masks = make_pairs(tmp_path, ["a"], [0, 255])
    data = folder_dataset(images, masks, mask_values=parse_mask_values("0:0,255:1"))
    assert data.info.num_classes == 2
    assert set(np.unique(data[0][1])) == {0, 1}


def test_folder_classes_scanned_from_masks(tmp_path, caplog):
    images, masks = make_pairs(tmp_path, ["a", "b"], [0, 2, 255])
    with caplog.at_level("INFO", logger="pixelwise"):
        data = folder_dataset(images, masks)
    assert data.info.classes == ("class0", "class1", "class2")
    assert "3 classes" in caplog.text
    data.validate(progress=False)


def test_folder_split_is_disjoint_and_deterministic(tmp_path):
    images, masks = make_pairs(tmp_path, [f"s{i:02d}" for i in range(10)], [0, 1])

    def stems(split: str, seed: int = 0) -> list[str]:
        data = folder_dataset(images, masks, split=split, classes=["a", "b"], seed=seed)
        return [data.stem(i) for i in range(len(data))]

    train, val = stems("train"), stems("val")
    assert len(val) == 2 and not set(train) & set(val)
    assert sorted(train + val) == stems("all")
    assert (stems("train"), stems("val")) == (train, val)
    assert sorted(stems("val", seed=1) + stems("train", seed=1)) == stems("all")
    with raises("'test'"):
        stems("test")


def test_image_without_mask(tmp_path):
    images, masks = make_pairs(tmp_path, ["a", "b"], [0])
    (masks / "b.png").unlink()
    with raises("b.png", str(masks)):
        folder_dataset(images, masks, classes=["a"])


def test_size_mismatch(tmp_path):
    images, masks = make_pairs(tmp_path, ["a"], [0])
    save(masks / "a.png", label([0], height=4, width=4))
    data = folder_dataset(images, masks, classes=["a"])
    with raises(str(images / "a.png"), str(masks / "a.png"), "8x6", "4x4"):
        data[0]


def test_mask_value_not_in_map(tmp_path):
    images, masks = make_pairs(tmp_path, ["a"], [0, 128, 255])
    data = folder_dataset(images, masks, mask_values={0: 0, 255: 1})
    with raises(str(masks / "a.png"), "[128]", "not in the mask value map"):
        data.validate(progress=False)


def test_mask_value_out_of_range(tmp_path):
    images, masks = make_pairs(tmp_path, ["a"], [0, 1, 5])
    data = folder_dataset(images, masks, classes=["a", "b"])
    with raises(str(masks / "a.png"), "[5]"):
        data[0]


def test_value_map_target_outside_classes(tmp_path):
    images, masks = make_pairs(tmp_path, ["a"], [0, 1])
    with raises("1:7"):
        folder_dataset(images, masks, classes=["a", "b"], mask_values={0: 0, 1: 7})


def test_corrupt_image_in_dataset(tmp_path):
    images, masks = make_pairs(tmp_path, ["a"], [0])
    (images / "a.png").write_bytes(encoded(rgb(height=64, width=64))[:300])
    data = folder_dataset(images, masks, classes=["a"])
    with raises("cannot read image", "a.png"):
        data.validate(progress=False)


# --- load_dataset -----------------------------------------------------------------------


def test_load_dataset_errors(tmp_path):
    with raises("'nope'", "camvid"):
        load_dataset("nope", "train")
    with raises("needs a root"):
        load_dataset("camvid", "train")
    with raises(str(tmp_path / "missing")):
        load_dataset("camvid", "train", root=tmp_path / "missing")
    with raises("'bogus'"):
        load_dataset("camvid", "train", root=tmp_path, bogus=1)
    with raises("'masks'"):
        load_dataset("folder", "all", images=tmp_path)


def test_every_listed_dataset_has_a_builder_and_a_description():
    described = list_datasets()
    assert list(described) == list(DATASETS) and "kitti" in described
    for name, spec in DATASETS.items():
        assert callable(spec.builder()), name
        assert described[name].strip() and "\n" not in described[name], name


def test_load_split_applies_the_split_options():
    data = DataSection(
        name="synthetic",
        options={"num_images": 3, "size": 16},
        split_options={"val": {"num_images": 2}},
    )
    assert len(load_split(data, "train")) == 3
    assert len(load_split(data, "val", check=False)) == 2


def make_camvid(root: Path, split: str, stems: list[str]) -> None:
    for i, stem in enumerate(stems):
        save(root / split / f"{stem}.png", rgb(i))
        save(root / f"{split}annot" / f"{stem}.png", label(list(range(12))))


def test_camvid(tmp_path):
    make_camvid(tmp_path, "train", ["0001TP_006690", "0001TP_006720"])
    data = load_dataset("camvid", "train", root=tmp_path)
    assert len(data) == 2
    assert data.info.classes == CAMVID_CLASSES and data.info.ignore_index == 11
    assert set(np.unique(data[1][1])) == set(range(12))
    with raises(str(tmp_path / "test")):
        load_dataset("camvid", "test", root=tmp_path)
    with raises("'foo'", "train, val, test"):
        load_dataset("camvid", "foo", root=tmp_path)


def make_isbi(root: Path, count: int) -> None:
    for n in range(count):
        save(root / "train" / "images" / f"{n}.png", rgb(n)[..., 0])
        save(root / "train" / "labels" / f"{n}.png", label([0, 255]))


def test_isbi2012(tmp_path):
    make_isbi(tmp_path, 12)
    val = load_dataset("isbi2012", "val", root=tmp_path, val_slices=[11, 10])
    train = load_dataset("isbi2012", "train", root=tmp_path, val_slices=[11, 10])
    assert [val.stem(i) for i in range(len(val))] == ["10", "11"]
    assert [train.stem(i) for i in range(len(train))] == [str(n) for n in range(10)]
    image, mask = train[0]
    assert image.shape == (HEIGHT, WIDTH, 1)
    assert set(np.unique(mask)) == {0, 1}
    assert train.info.classes == ("membrane", "cell") and train.info.channels == 1
    with raises("val slices", "15"):
        load_dataset("isbi2012", "train", root=tmp_path)


# --- real data --------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "sizes"),
    [("camvid", {"train": 367, "val": 101}), ("isbi2012", {"train": 15, "val": 5})],
)
def test_real_data(shared_data, name, sizes):
    root = shared_data / name
    if not root.is_dir():
        pytest.skip(f"'{root}' is absent")
    for split, size in sizes.items():
        data = load_dataset(name, split, root=root)
        assert len(data) == size
        image, mask = data[0]
        assert image.shape[:2] == mask.shape and image.shape[2] == data.info.channels
        labels = np.unique(mask)
        assert ((labels < data.info.num_classes) | (labels == data.info.ignore_index)).all()

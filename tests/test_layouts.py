"""Images and masks as they come: keys with other suffixes and formats, colour masks,
regions of interest, 0/255 and JPEG masks, split files, manifests, and their errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelwise.cli import main
from pixelwise.data.folder import folder_dataset
from pixelwise.errors import PixelwiseError
from pixelwise.metrics import ConfusionMatrix

RNG = np.random.default_rng(0)


def picture(height: int = 12, width: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def labels(height: int = 12, width: int = 16) -> np.ndarray:
    """Class 0 left, 1 middle, 2 right."""
    mask = np.zeros((height, width), np.uint8)
    mask[:, width // 3 :] = 1
    mask[:, 2 * width // 3 :] = 2
    return mask


def save(array: np.ndarray, path: Path, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)
    return path


def test_a_key_pattern_pairs_other_suffixes_and_formats(tmp_path: Path) -> None:
    for key in ("0001", "0002"):
        save(picture(), tmp_path / "scans" / f"{key}_img.tif")
        save(labels(), tmp_path / "labels" / f"{key}_gt.gif")
    data = folder_dataset(tmp_path / "scans", tmp_path / "labels", pair_key=r"^(\d+)_",
                          classes=["a", "b", "c"])  # fmt: skip
    assert [(image.name, mask.name) for image, mask in data.pairs] == [
        ("0001_img.tif", "0001_gt.gif"), ("0002_img.tif", "0002_gt.gif")
    ]  # fmt: skip
    np.testing.assert_array_equal(data[0][1], labels())
    with pytest.raises(PixelwiseError, match="has no mask of key '0001_img'"):
        folder_dataset(tmp_path / "scans", tmp_path / "labels", classes=["a", "b", "c"])
    save(labels(), tmp_path / "labels" / "0001_copy.png")
    duplicate = r"0001_copy.png' and .*0001_gt.gif' .* one key '0001'"
    with pytest.raises(PixelwiseError, match=duplicate):
        folder_dataset(tmp_path / "scans", tmp_path / "labels", pair_key=r"^(\d+)_",
                       classes=["a", "b", "c"])  # fmt: skip
    with pytest.raises(PixelwiseError, match="needs a group"):
        folder_dataset(tmp_path / "scans", tmp_path / "labels", pair_key=r"^\d+_")


COLOURS = {0: (128, 128, 128), 1: (128, 0, 0), 2: (0, 0, 0)}


def colour_mask(mask: np.ndarray) -> np.ndarray:
    rgb = np.zeros((*mask.shape, 3), np.uint8)
    for value, colour in COLOURS.items():
        rgb[mask == value] = colour
    return rgb


def test_colour_masks_by_a_table_inline_or_in_a_file(tmp_path: Path) -> None:
    save(picture(), tmp_path / "images" / "a.png")
    save(colour_mask(labels()), tmp_path / "masks" / "a.png")
    inline = "128,128,128:sky;128,0,0:building;0,0,0:ignore"
    data = folder_dataset(tmp_path / "images", tmp_path / "masks", mask_colors=inline)
    expected = np.where(labels() == 2, 255, labels())
    np.testing.assert_array_equal(data[0][1], expected)
    assert data.info.classes == ("sky", "building")
    assert data.info.colours == ((128, 128, 128), (128, 0, 0))
    legend = tmp_path / "label_colors.txt"
    legend.write_text("# CamVid style\n128 128 128 sky\n128 0 0\tbuilding\n0 0 0 ignore\n")
    from_file = folder_dataset(tmp_path / "images", tmp_path / "masks", mask_colors=str(legend))
    np.testing.assert_array_equal(from_file[0][1], expected)
    short = folder_dataset(tmp_path / "images", tmp_path / "masks",
                           mask_colors="128,128,128:sky;0,0,0:ignore")  # fmt: skip
    with pytest.raises(PixelwiseError, match=r"a.png' has colours .*\(128, 0, 0\)"):
        short[0]


def test_pixels_outside_a_region_of_interest_are_ignored(tmp_path: Path) -> None:
    save(picture(), tmp_path / "images" / "a.png")
    save(labels(), tmp_path / "masks" / "a.png")
    region = np.zeros((12, 16), np.uint8)
    region[2:10, 3:13] = 255
    save(region, tmp_path / "fov" / "a.png")
    data = folder_dataset(tmp_path / "images", tmp_path / "masks", roi=tmp_path / "fov",
                          classes=["a", "b", "c"])  # fmt: skip
    _, mask = data[0]
    assert (mask[region == 0] == 255).all()
    np.testing.assert_array_equal(mask[region > 0], labels()[region > 0])
    save(np.zeros((6, 16), np.uint8), tmp_path / "fov" / "a.png")
    with pytest.raises(PixelwiseError, match=r"region of interest .* is 16x6"):
        data[0]


def test_scores_inside_a_region_ignore_any_prediction_outside(tmp_path: Path) -> None:
    save(picture(), tmp_path / "images" / "a.png")
    save(labels(), tmp_path / "masks" / "a.png")
    region = np.zeros((12, 16), np.uint8)
    region[:, :8] = 1
    save(region, tmp_path / "fov" / "a.png")
    data = folder_dataset(tmp_path / "images", tmp_path / "masks", roi=tmp_path / "fov",
                          classes=["a", "b", "c"])  # fmt: skip
    target = torch.as_tensor(data[0][1])[None]
    right = torch.as_tensor(labels().astype(np.int64))[None]
    background_outside = right.clone()
    background_outside[0, :, 8:] = 0
    scores = []
    for prediction in (right, background_outside):
        confusion = ConfusionMatrix(3, 255)
        confusion.update(prediction, target)
        scores.append(confusion.compute(class_names=data.info.classes).to_dict())
    assert scores[0] == scores[1]
    inside = labels()[:, :8]
    assert scores[0]["per_class"]["c"]["support"] == int((inside == 2).sum()) == 0


def test_binary_masks_stored_as_0_255_0_1_or_in_jpeg(tmp_path: Path) -> None:
    rows, cols = np.mgrid[:32, :32]
    mask = ((rows - 15.5) ** 2 + (cols - 13.2) ** 2 < 81).astype(np.uint8)  # a disc
    save(picture(32, 32), tmp_path / "images" / "a.png")
    save(mask * 255, tmp_path / "masks" / "a.jpg", quality=50)
    stored = np.asarray(Image.open(tmp_path / "masks" / "a.jpg"))
    assert len(np.unique(stored)) > 2  # the compression made values between 0 and 255
    data = folder_dataset(tmp_path / "images", tmp_path / "masks", binarize=127)
    np.testing.assert_array_equal(data[0][1], mask)
    assert data.info.classes == ("background", "foreground")
    catch_all = folder_dataset(tmp_path / "images", tmp_path / "masks",
                               mask_values={0: 0, "*": 1}, classes=["bg", "fg"])  # fmt: skip
    assert set(np.unique(catch_all[0][1])) == {0, 1}
    with pytest.raises(PixelwiseError, match="not in the mask value map"):
        folder_dataset(tmp_path / "images", tmp_path / "masks", mask_values={0: 0, 255: 1},
                       classes=["bg", "fg"])[0]  # fmt: skip


def test_split_files_name_the_keys_of_each_split(tmp_path: Path) -> None:
    for stem in ("a", "b", "c", "d"):
        save(picture(), tmp_path / "images" / f"{stem}.png")
        save(labels(), tmp_path / "masks" / f"{stem}.png")
    (tmp_path / "train.txt").write_text("a\nb\n# c is held out\nd\n")
    (tmp_path / "val.txt").write_text("c\n")
    files = {"train": str(tmp_path / "train.txt"), "val": str(tmp_path / "val.txt")}

    def stems(split: str) -> list[str]:
        data = folder_dataset(tmp_path / "images", tmp_path / "masks", split=split,
                              classes=["a", "b", "c"], split_files=files)  # fmt: skip
        return [data.stem(i) for i in range(len(data))]

    assert stems("train") == ["a", "b", "d"] and stems("val") == ["c"]
    (tmp_path / "val.txt").write_text("c\nzz\n")
    with pytest.raises(PixelwiseError, match="'zz', which is no sample's key"):
        stems("val")


def write_manifest(tmp_path: Path, rows: list[dict]) -> Path:
    file = tmp_path / "data" / "manifest.csv"
    with file.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return file


def test_a_manifest_lists_images_masks_regions_and_splits(tmp_path: Path) -> None:
    rows = []
    for stem, split in (("x1", "train"), ("x2", "train"), ("x3", "val")):
        save(picture(), tmp_path / "data" / "img" / f"{stem}.jpg")
        save(labels(), tmp_path / "data" / "gt" / f"{stem}_label.png")
        save(np.full((12, 16), 255, np.uint8), tmp_path / "data" / "roi" / f"{stem}.png")
        rows.append({"image": f"img/{stem}.jpg", "mask": f"gt/{stem}_label.png",
                     "roi": f"roi/{stem}.png", "split": split})  # fmt: skip
    manifest = write_manifest(tmp_path, rows)
    train = folder_dataset(manifest=manifest, split="train", classes=["a", "b", "c"])
    val = folder_dataset(manifest=manifest, split="val", classes=["a", "b", "c"])
    assert (len(train), len(val)) == (2, 1) and val.rois is not None
    np.testing.assert_array_equal(val[0][1], labels())
    rows[1]["mask"] = "gt/missing.png"
    manifest = write_manifest(tmp_path, rows)
    with pytest.raises(PixelwiseError, match=r"line 3: '.*gt/missing.png' does not exist"):
        folder_dataset(manifest=manifest, classes=["a", "b", "c"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--pair-key", r"^(\d+)x"], "has no key"),
        (["--mask-colors", "1,2,3:a;4,5,6:b"], "has colours that are not in the colour table"),
        (["--roi", "fov"], "is 16x6"),
        (["--manifest", "nowhere.csv"], "manifest 'nowhere.csv' does not exist"),
    ],
)
def test_bad_layouts_are_one_error_line_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
    flags: list[str], message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for stem in ("0001_a", "0002_a"):
        save(picture(), tmp_path / "images" / f"{stem}.png")
        save(colour_mask(labels()), tmp_path / "masks" / f"{stem}.png")
        save(np.zeros((6, 16), np.uint8), tmp_path / "fov" / f"{stem}.png")
    data = ["--data", "folder", "--images", "images", "--masks", "masks"]
    if "--manifest" in flags:
        data = ["--data", "folder"]
    if "--mask-colors" not in flags:
        flags = [*flags, "--mask-colors", "128,128,128:a;128,0,0:b;0,0,0:c"]
    assert main(["train", *data, *flags, "--out", "run", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert not (tmp_path / "run").exists()


# --- data inspect names the flags ----------------------------------------------------------


def inspect(tmp_path: Path, *flags: str) -> int:
    argv = ["data", "inspect", "--data", "folder", "--images", str(tmp_path / "images"),
            "--masks", str(tmp_path / "masks"), "--out", str(tmp_path / "out"), *flags]  # fmt: skip
    return main(argv)


def test_inspect_advises_a_value_map_for_0_255_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    save(picture(), tmp_path / "images" / "a.png")
    save((labels() > 0).astype(np.uint8) * 255, tmp_path / "masks" / "a.png")
    assert inspect(tmp_path) == 0
    assert "advice: masks hold the values {0, 255} in the 1 read: add --mask-values 0:0,255:1" in (
        capsys.readouterr().out
    )
    assert inspect(tmp_path, "--mask-values", "0:0,255:1") == 0
    assert "advice" not in capsys.readouterr().out


def test_inspect_advises_a_key_pattern_when_no_stems_match(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for key in ("0001", "0002", "0003"):
        save(picture(), tmp_path / "images" / f"{key}_img.png")
        save(labels(), tmp_path / "masks" / f"{key}_gt.png")
    assert inspect(tmp_path) == 2
    err = capsys.readouterr().err
    assert "the first number of each name pairs 3: add --pair-key '^(\\d+)'" in err
    assert inspect(tmp_path, "--pair-key", r"^(\d+)") == 0


def test_inspect_writes_a_colour_table_to_fill_in(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    save(picture(), tmp_path / "images" / "a.png")
    save(colour_mask(labels()), tmp_path / "masks" / "a.png")
    assert inspect(tmp_path) == 2
    assert "masks are RGB with 3 colours" in capsys.readouterr().err
    template = tmp_path / "out" / "colors.txt"
    assert [line.split("  #")[0] for line in template.read_text().splitlines()[1:]] == [
        "0,0,0:class0", "128,0,0:class1", "128,128,128:class2"
    ]  # fmt: skip
    assert inspect(tmp_path, "--mask-colors", str(template)) == 0


def test_inspect_advises_a_threshold_for_jpeg_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows, cols = np.mgrid[:64, :64]
    for stem in ("a", "b"):
        disc = ((rows - 30.5) ** 2 + (cols - 27.3) ** 2 < 300).astype(np.uint8) * 255
        save(picture(64, 64), tmp_path / "images" / f"{stem}.png")
        save(disc, tmp_path / "masks" / f"{stem}.jpg", quality=40)
    inspect(tmp_path)
    assert "add --binarize 127" in capsys.readouterr().out


def test_evaluate_says_it_scored_inside_the_regions(
    tiny_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    for stem in ("a", "b"):
        save(picture(), tmp_path / "images" / f"{stem}.png")
        save(labels(), tmp_path / "masks" / f"{stem}.png")
        save(np.full((12, 16), 1, np.uint8), tmp_path / "fov" / f"{stem}.png")
    out = tmp_path / "eval"
    argv = ["evaluate", str(tiny_unet), "--data", "folder", "--images", str(tmp_path / "images"),
            "--masks", str(tmp_path / "masks"), "--roi", str(tmp_path / "fov"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "scored inside the regions of interest only" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["scored"].startswith("inside the regions")


@pytest.mark.parametrize("fill, outside", [("ignore", 255), ("zero", 0)])
def test_predict_writes_the_fill_outside_each_region(
    tiny_unet: Path, tmp_path: Path, fill: str, outside: int
) -> None:
    from pixelwise.inference.options import PredictOptions
    from pixelwise.inference.predict import predict_images
    from pixelwise.inference.segmenter import Segmenter

    save(picture(24, 28), tmp_path / "in" / "a.png")
    region = np.zeros((24, 28), np.uint8)
    region[5:20, 3:17] = 1
    save(region, tmp_path / "fov" / "a.png")
    segmenter = Segmenter.load(tiny_unet)
    options = PredictOptions(roi=str(tmp_path / "fov"), roi_fill=fill, workers=0, progress=False)
    predict_images(segmenter, [tmp_path / "in"], tmp_path / "out", options)
    written = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    whole = segmenter.predict(picture_of(tmp_path / "in" / "a.png"))
    assert (written[region == 0] == outside).all()
    np.testing.assert_array_equal(written[region > 0], whole[region > 0])
    save(np.zeros((6, 6), np.uint8), tmp_path / "fov" / "a.png")
    with pytest.raises(PixelwiseError, match=r"region of interest .* is 6x6"):
        predict_images(segmenter, [tmp_path / "in"], tmp_path / "again", options)


def picture_of(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_predict_roi_flags(tiny_unet: Path, tmp_path: Path) -> None:
    save(picture(24, 28), tmp_path / "in" / "a.png")
    region = np.zeros((24, 28), np.uint8)
    region[:12] = 1
    save(region, tmp_path / "fov" / "a.png")
    argv = ["predict", str(tiny_unet), str(tmp_path / "in"), "--out", str(tmp_path / "out"),
            "--roi", str(tmp_path / "fov"), "--roi-fill", "zero", "--workers", "0"]  # fmt: skip
    assert main(argv) == 0
    written = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    assert (written[12:] == 0).all()

"""Dataset inspection: every problem in one report, hand-checked frequencies, pictures, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelwise.cli import main
from pixelwise.data.inspect import BAD_VALUES, MISSING_MASK, SIZE_MISMATCH, UNREADABLE
from pixelwise.report.dataset import inspect_data

CLASSES = ["background", "road", "car"]


def _save(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array.astype(np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two good pairs, one missing mask, one size mismatch, one bad value, one corrupt mask."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    good = {"a": np.array([[0, 1], [2, 255]]), "b": np.array([[1, 1], [1, 0]])}
    for stem, mask in good.items():
        _save(images / f"{stem}.png", np.zeros((2, 2, 3)))
        _save(masks / f"{stem}.png", mask)
    _save(images / "missing.png", np.zeros((2, 2, 3)))
    _save(images / "size.png", np.zeros((2, 2, 3)))
    _save(masks / "size.png", np.zeros((3, 2)))
    _save(images / "value.png", np.zeros((2, 2, 3)))
    _save(masks / "value.png", np.array([[0, 7], [0, 0]]))
    _save(images / "corrupt.png", np.zeros((2, 2, 3)))
    (masks / "corrupt.png").write_bytes(b"not a png")
    return tmp_path


def _options(folder: Path) -> dict:
    return {"images": str(folder / "images"), "masks": str(folder / "masks"), "classes": CLASSES}


def test_every_problem_is_reported(folder: Path, tmp_path: Path) -> None:
    report = inspect_data("folder", "all", tmp_path / "out", progress=False, **_options(folder))
    found = {(p.kind, Path(p.file).stem) for p in report.problems}
    assert found == {
        (MISSING_MASK, "missing"),
        (SIZE_MISMATCH, "size"),
        (BAD_VALUES, "value"),
        (UNREADABLE, "corrupt"),
    }
    assert report.num_samples == 5  # the image without a mask is not a sample
    assert report.image_sizes == {"2x2": 5}


def test_frequencies_equal_a_hand_count(folder: Path, tmp_path: Path) -> None:
    report = inspect_data("folder", "all", tmp_path / "out", progress=False, **_options(folder))
    # a: 0, 1, 2 (+ one ignored); b: 1, 1, 1, 0
    assert report.class_pixels == [2, 4, 1]
    assert report.ignored_pixels == 1
    assert report.frequencies == pytest.approx([2 / 7, 4 / 7, 1 / 7])


def test_the_report_and_pictures_are_written(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = inspect_data("folder", "all", out, progress=False, **_options(folder))
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(report.to_dict()))
    assert saved["class_frequencies"]["road"] == pytest.approx(4 / 7)
    for name in ("class_frequencies.png", "samples.png"):
        assert Image.open(out / name).mode == "RGB"


def test_synthetic_data_has_no_problems(tmp_path: Path) -> None:
    report = inspect_data("synthetic", "train", tmp_path, progress=False, num_images=3, size=16)
    assert report.problems == [] and report.image_sizes == {"16x16": 3}
    assert sum(report.class_pixels) + report.ignored_pixels == 3 * 16 * 16


def test_cli_lists_the_problems_and_exits_0(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cli"
    argv = ["data", "inspect", "--data", "folder", "--out", str(out), "--classes", "a,b,c"]
    argv += ["--images", str(folder / "images"), "--masks", str(folder / "masks")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 problem(s)" in printed and "missing mask" in printed and "2x2 (5)" in printed
    assert (out / "report.json").is_file()


def test_cli_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["data", "inspect", "--data", "nope", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err

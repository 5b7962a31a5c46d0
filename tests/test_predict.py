"""Batched, resumable predict: outputs, never touching inputs, resume, bad files, big images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import pixelwise
from conftest import save_tiny_unet
from pixelwise.cli import main
from pixelwise.data.base import default_colours
from pixelwise.inference import outputs as outputs_module
from pixelwise.inference.outputs import read_receipt
from pixelwise.inference.predict import PredictOptions, predict_images
from pixelwise.inference.tiling import TileOptions
from pixelwise.ownership import MANIFEST

RNG = np.random.default_rng(0)
SIZES = {"a": (30, 40), "b": (30, 40), "c": (25, 33), "d": (30, 40)}


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for stem, (h, w) in SIZES.items():
        Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            folder / f"{stem}.png"
        )
    return folder


def predict(model: Path, *args: str) -> int:
    return main(["predict", str(model), *args, "--workers", "0"])


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_labels_probabilities_and_summary(tiny_unet: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert predict(tiny_unet, str(images), "--out", str(out), "--probabilities", "--summary") == 0
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    for stem in SIZES:
        picture = np.asarray(Image.open(images / f"{stem}.png"))
        label_image = Image.open(out / f"{stem}.png")
        assert label_image.mode == "P"
        palette = np.asarray(label_image.getpalette()[:9]).reshape(3, 3)
        assert [tuple(c) for c in palette] == list(default_colours(3))
        np.testing.assert_array_equal(np.asarray(label_image), segmenter.predict(picture))
        expected = segmenter.probabilities(picture).permute(1, 2, 0).numpy()
        probabilities = np.load(out / "probabilities" / f"{stem}.npy")
        assert probabilities.dtype == np.float16 and probabilities.shape == (*SIZES[stem], 3)
        np.testing.assert_allclose(probabilities, expected, atol=1e-3)
        confidence = np.asarray(Image.open(out / "confidence" / f"{stem}.png"))
        np.testing.assert_array_equal(confidence, np.round(expected.max(axis=2) * 255))
    lines = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert [Path(line["input"]).stem for line in lines] == list(SIZES)
    first = lines[0]
    assert (first["height"], first["width"], first["tiled"]) == (30, 40, False)
    assert first["seconds"] > 0 and sum(first["class_fraction"].values()) == pytest.approx(1)
    labels = np.asarray(Image.open(out / "a.png"))
    assert first["class_fraction"]["c1"] == pytest.approx((labels == 1).mean())


def test_out_in_an_input_folder_or_on_an_input_is_refused(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(images)
    assert predict(tiny_unet, str(images), "--out", str(images)) == 2
    assert "input folder" in capsys.readouterr().err
    assert predict(tiny_unet, str(images / "a.png"), "--out", str(images)) == 2
    assert "is the input file" in capsys.readouterr().err
    assert snapshot(images) == before
    assert predict(tiny_unet, str(images), "--out", str(images / "predictions")) == 0


def test_an_input_named_like_an_overlay_is_never_overwritten(
    tiny_unet: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("photo.png", "photo_overlay.png"):
        Image.fromarray(RNG.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / name)
    out = tmp_path / "out"
    assert predict(tiny_unet, str(folder / "photo.png"), str(folder / "photo_overlay.png"),
                   "--out", str(out), "--overlay") == 0  # fmt: skip
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert names == ["overlay/photo.png", "overlay/photo_overlay.png", "photo.png",
                     "photo_overlay.png"]  # fmt: skip
    assert Image.open(folder / "photo_overlay.png").mode == "RGB"  # the input is untouched


def test_a_file_pixelwise_did_not_write_is_never_replaced(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    (out / "overlay").mkdir(parents=True)
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(out / "b.png")
    for extra in ([], ["--force"]):
        assert predict(tiny_unet, str(images), "--out", str(out), *extra) == 2
        assert "was not written by pixelwise" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["b.png", "overlay"]
    (out / "b.png").unlink()
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(out / "overlay" / "c.png")
    assert predict(tiny_unet, str(images), "--out", str(out), "--overlay") == 2
    assert "overlay/c.png' exists and was not written" in capsys.readouterr().err


def test_resume_skips_complete_images_and_force_redoes_them(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    args = [str(images), "--out", str(out), "--overlay"]
    assert predict(tiny_unet, *args) == 0
    first = snapshot(out)
    assert predict(tiny_unet, *args) == 0
    assert "skipped 4 image(s)" in capsys.readouterr().out
    assert snapshot(out) == first
    (out / "overlay" / "c.png").unlink()  # a missing output makes its image incomplete
    assert predict(tiny_unet, *args) == 0
    again = snapshot(out)
    assert "skipped 3 image(s)" in capsys.readouterr().out
    assert again["a.png"] == first["a.png"] and again["c.png"] != first["c.png"]
    assert predict(tiny_unet, *args, "--tta", "hflip") == 2
    assert "other settings" in capsys.readouterr().err
    assert predict(tiny_unet, *args, "--force") == 0
    assert all(snapshot(out)[name][1] != again[name][1] for name in again)


def test_a_crash_leaves_no_partial_output(
    tiny_unet: Path, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    calls = []
    real = outputs_module._NpyWriter.put

    def crash_on_second(self, first_row, rows):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self, first_row, rows)

    monkeypatch.setattr(outputs_module._NpyWriter, "put", crash_on_second)
    args = [str(images), "--out", str(out), "--probabilities", "--batch-size", "1"]
    assert predict(tiny_unet, *args) == 130  # interrupted
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "confidence/a.png", "probabilities/a.npy"]  # no temporaries
    monkeypatch.undo()
    assert predict(tiny_unet, *args) == 0
    assert read_receipt(out / "b.png") is not None


def test_bad_inputs_stop_before_any_work_or_go_to_errors_jsonl(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "out"
    assert predict(tiny_unet, str(images), "--out", str(out)) == 2
    error = capsys.readouterr().err
    assert "1 of 5 inputs cannot be predicted" in error and "broken.png" in error
    assert not out.exists()
    assert predict(tiny_unet, str(images), "--out", str(out), "--skip-bad") == 0
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [Path(e["input"]).name for e in errors] == ["broken.png"]
    assert "cannot read image" in errors[0]["reason"]
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png", "c.png", "d.png"]


def test_more_than_256_classes_write_16_bit_pngs(tmp_path: Path, images: Path) -> None:
    model = save_tiny_unet(tmp_path / "many", num_classes=300)
    out = tmp_path / "out"
    assert predict(model, str(images / "a.png"), "--out", str(out), "--probabilities") == 0
    label_image = Image.open(out / "a.png")
    labels = np.asarray(label_image)
    assert label_image.mode == "I;16" and labels.max() < 300
    expected = pixelwise.load(model, device="cpu").predict(np.asarray(Image.open(images / "a.png")))
    np.testing.assert_array_equal(labels, expected)
    assert labels.max() > 255 or len(np.unique(labels)) > 1
    assert not (out / "probabilities").exists()  # too many classes for every probability
    assert (out / "confidence" / "a.png").exists()


def test_images_over_the_pixel_limit_are_tiled_into_tiffs(
    tiny_unet: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = [str(images / "c.png"), "--out", str(out), "--max-pixels", "500", "--tile-batch", "2",
            "--tile", "16", "20", "--probabilities"]  # fmt: skip
    assert predict(tiny_unet, *args) == 0
    with tifffile.TiffFile(out / "c.tif") as tiff:
        labels = tiff.pages[0].asarray()
        assert tiff.pages[0].is_tiled and tiff.pages[0].colormap is not None
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    picture = np.asarray(Image.open(images / "c.png"))
    expected = segmenter.predict(picture, tiling=TileOptions((16, 20), 0.25, "gaussian", 2))
    np.testing.assert_array_equal(labels, expected)
    probabilities = tifffile.imread(out / "probabilities" / "c.tif")
    assert probabilities.shape == (25, 33, 3) and probabilities.dtype == np.float16
    assert tifffile.imread(out / "confidence" / "c.tif").dtype == np.uint8
    receipt = read_receipt(out / "c.tif")
    assert receipt is not None and receipt.summary["tiled"] is True
    assert set(receipt.outputs) == {"confidence", "probabilities"}
    before = snapshot(out)
    assert predict(tiny_unet, *args) == 0  # complete: skipped
    assert snapshot(out) == before


def test_batched_with_workers_equals_one_at_a_time(
    tiny_unet: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = predict_images(
        pixelwise.load(tiny_unet, device="cpu"),
        [images],
        out,
        PredictOptions(workers=1, batch_size=3, progress=False),
    )
    assert len(report.written) == 4 and report.skipped == 0
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    for stem in SIZES:
        picture = np.asarray(Image.open(images / f"{stem}.png"))
        np.testing.assert_array_equal(
            np.asarray(Image.open(out / f"{stem}.png")), segmenter.predict(picture)
        )


def test_tile_auto_tiles_only_images_over_the_memory_budget(
    tiny_unet: Path, images: Path, tmp_path: Path
) -> None:
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    small, large = segmenter.whole_image_bytes(25, 33), segmenter.whole_image_bytes(30, 40)
    assert 0 < small < large
    budget = str((small + large) // 2)
    out = tmp_path / "out"
    assert predict(tiny_unet, str(images), "--out", str(out), "--summary",
                   "--max-memory", budget, "--tile", "auto") == 0  # fmt: skip
    lines = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert {Path(line["input"]).stem: line["tiled"] for line in lines} == {
        "a": True, "b": True, "c": False, "d": True
    }  # fmt: skip


def test_label_files_are_the_same_bytes_on_every_run(
    tiny_unet: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = [str(images), "--out", str(out), "--overlay", "--probabilities", "--summary"]
    assert predict(tiny_unet, *args) == 0
    first = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert predict(tiny_unet, *args, "--force") == 0
    again = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    summary = out / "summary.jsonl"
    kept = {summary, out / MANIFEST}  # times, not results
    assert {p: b for p, b in again.items() if p not in kept} == {
        p: b for p, b in first.items() if p not in kept
    }
    receipt = read_receipt(out / "a.png")
    assert receipt is not None and "seconds" not in receipt.summary
    assert {"path", "bytes", "sha256"} == set(receipt.outputs["overlay"])
    assert all(json.loads(line)["seconds"] > 0 for line in summary.read_text().splitlines())


def test_an_output_with_other_bytes_of_the_same_size_is_redone(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    args = [str(images), "--out", str(out), "--probabilities", "--summary"]
    assert predict(tiny_unet, *args) == 0
    written = np.load(out / "probabilities" / "b.npy")
    np.save(out / "probabilities" / "b.npy", written[::-1].copy())  # same size, other values
    stale = (out / "probabilities" / "b.npy").read_bytes()
    capsys.readouterr()
    assert predict(tiny_unet, *args) == 0
    assert "predicted 1 image(s)" in capsys.readouterr().out
    assert (out / "probabilities" / "b.npy").read_bytes() != stale
    # alone in its batch now: float32 sums may differ in the last bit from the batch of 3
    np.testing.assert_allclose(np.load(out / "probabilities" / "b.npy"), written, atol=1e-3)
    lines = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert [line["seconds"] is None for line in lines] == [True, False, True, True]

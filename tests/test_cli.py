"""The ``pixelwise`` command end to end on tiny generated data, and every bad-input case."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pixelwise.cli import build_parser, main, run_config
from tiny_run import TINY


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch run of a tiny U-Net on tiny shapes, made through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run = root / "run"
    assert main(["train", "--config", str(config), "--out", str(run), "--lr", "0.01"]) == 0
    return run


def test_train_writes_the_run_directory(trained_run: Path) -> None:
    for name in ("config.yaml", "metrics.csv", "model/config.json", "model/model.safetensors"):
        assert (trained_run / name).is_file(), name
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()
    resolved = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert resolved["train"]["lr"] == 0.01  # the flag overrode the file ...
    assert resolved["model"]["options"] == {"base_width": 4, "depth": 2}  # ... which set the rest
    assert resolved["out"] == str(trained_run)
    rows = list(csv.DictReader((trained_run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["0"]
    assert 0.0 <= float(rows[0]["val_miou"]) <= 1.0


def test_train_evaluates_the_val_split(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "eval-val" / "metrics.json").read_text())
    for key in ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "mean_dice", "per_class"):
        assert key in metrics
    assert metrics["level"] == "dataset" and metrics["split"] == "val"
    assert set(metrics["per_class"]) == {"background", "circle", "square", "triangle"}
    assert metrics["num_pixels"] == 3 * 32 * 32


def test_evaluate_prints_a_table_and_writes_metrics(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", str(trained_run), "--out", str(out)]) == 0  # data from the run
    table = capsys.readouterr().out
    assert "circle" in table and "mIoU" in table
    again = json.loads((out / "metrics.json").read_text())
    first = json.loads((trained_run / "eval-val" / "metrics.json").read_text())
    assert again["miou"] == first["miou"]


def test_predict_writes_index_pngs_at_input_size(trained_run: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a.png": (20, 30), "b.jpg": (33, 17)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(inputs / name)
    out = tmp_path / "out"
    assert (
        main(["predict", str(trained_run / "model"), str(inputs), "--out", str(out), "--overlay"])
        == 0
    )
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "a.png",
        "b.png",
        "overlay",
        "overlay/a.png",
        "overlay/b.png",
    ]
    labels = np.asarray(Image.open(out / "b.png"))
    assert labels.shape == (33, 17) and labels.dtype == np.uint8 and labels.max() < 4
    assert np.asarray(Image.open(out / "overlay" / "b.png")).shape == (33, 17, 3)


def test_resume_continues_from_the_last_checkpoint(trained_run: Path) -> None:
    assert main(["train", "--out", str(trained_run), "--resume", "--epochs", "2"]) == 0
    rows = list(csv.DictReader((trained_run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]


def test_models_lists_unet(capsys: pytest.CaptureFixture) -> None:
    assert main(["models"]) == 0
    assert "unet" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo", "train", "evaluate", "predict", "models", "summary"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: pixelwise" in capsys.readouterr().out


def parameter_count(**options: object) -> int:
    from pixelwise.models import build_model

    return sum(p.numel() for p in build_model("unet", 21, **options).parameters())


def test_summary_prints_a_table(capsys: pytest.CaptureFixture) -> None:
    argv = ["summary", "unet", "--input-size", "256", "256", "--model-option", "base_width=4"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert f"parameters       {parameter_count(base_width=4):,}" in table
    assert "receptive field  204 x 204 px" in table  # the U-Net's 4 levels fit in 256
    assert "output stride    16" in table and "MACs" in table


def test_summary_as_json_with_model_flags(capsys: pytest.CaptureFixture) -> None:
    flags = ["--upsample", "bilinear", "--fusion", "sum", "--model-option", "base_width=4"]
    assert main(["summary", "unet", "--input-size", "64", "48", *flags, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = parameter_count(base_width=4, upsample="bilinear", fusion="sum")
    assert data["parameters"] == data["trainable_parameters"] == expected
    assert data["input_size"] == [64, 48] and data["output_stride"] == 16
    assert data["receptive_field"] == [64, 48] and data["receptive_field_global"]


def test_model_flags_override_the_yaml_options(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    model = {"name": "unet", "options": {"base_width": 4, "depth": 2, "upsample": "bicubic"}}
    config.write_text(yaml.safe_dump({**TINY, "model": model}))
    argv = ["train", "--config", str(config), "--upsample", "nearest", "--fusion", "sum",
            "--output-stride", "8", "--separable", "--model-option", "depth=3"]  # fmt: skip
    options = run_config(build_parser().parse_args(argv)).model.options
    assert options == {
        "base_width": 4,
        "depth": 3,
        "upsample": "nearest",
        "fusion": "sum",
        "output_stride": 8,
        "separable": True,
    }


# --- bad input: one "error:" line naming the culprit, exit status 2 ---------------------------


def write_pair(
    root: Path, stem: str, size: tuple[int, int] = (8, 8), mask_size=None, value: int = 1
):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    image = np.full((*size, 3), 100, np.uint8)
    Image.fromarray(image).save(root / "images" / f"{stem}.png")
    mask = np.zeros(mask_size or size, np.uint8)
    mask[0, 0] = value
    Image.fromarray(mask).save(root / "masks" / f"{stem}.png")


def folder_train(root: Path, *extra: str) -> list[str]:
    return [
        "train", "--data", "folder", "--images", str(root / "images"), "--masks",
        str(root / "masks"), "--out", str(root / "run"), *extra,
    ]  # fmt: skip


def fails_cleanly(argv: list[str], capsys: pytest.CaptureFixture, *fragments: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in err, err
    err = errors[0]
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_missing_data_root(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nowhere"
    fails_cleanly(["train", "--data", "camvid", "--data-root", str(missing)], capsys, str(missing))


def test_image_without_mask(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_pair(tmp_path, "a")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "lonely.png")
    fails_cleanly(folder_train(tmp_path, "--classes", "a,b"), capsys, "lonely.png")


def test_image_mask_size_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_pair(tmp_path, "a")
    write_pair(tmp_path, "b")
    write_pair(tmp_path, "odd", size=(8, 8), mask_size=(8, 9))
    fails_cleanly(folder_train(tmp_path, "--classes", "a,b"), capsys, "odd.png")


def test_mask_value_outside_value_map(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_pair(tmp_path, "a", value=255)
    write_pair(tmp_path, "b", value=128)
    fails_cleanly(folder_train(tmp_path, "--mask-values", "0:0,255:1"), capsys, "b.png", "128")


def test_mask_value_not_a_class(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_pair(tmp_path, "a", value=1)
    write_pair(tmp_path, "b", value=7)
    fails_cleanly(folder_train(tmp_path, "--classes", "a,b"), capsys, "b.png", "7")


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_broken_image_file(tmp_path: Path, capsys: pytest.CaptureFixture, damage: str) -> None:
    write_pair(tmp_path, "a")
    write_pair(tmp_path, "b", size=(64, 64))
    target = tmp_path / "images" / "b.png"
    data = target.read_bytes()
    broken = b"this is not a png" if damage == "corrupt" else data[: len(data) // 2]
    target.write_bytes(broken)
    fails_cleanly(folder_train(tmp_path, "--classes", "a,b"), capsys, "b.png")


def test_unknown_model(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    fails_cleanly(["train", "--model", "unett", "--out", str(tmp_path / "r")], capsys, "unett")


def test_summary_of_an_unknown_model(capsys: pytest.CaptureFixture) -> None:
    fails_cleanly(["summary", "unett"], capsys, "unett", "unet")


def test_summary_with_an_option_the_model_does_not_take(capsys: pytest.CaptureFixture) -> None:
    fails_cleanly(["summary", "unet", "--model-option", "colour=red"], capsys, "'unet'", "colour")


@pytest.mark.parametrize(("flag", "value"), [("--fusion", "product"), ("--upsample", "warp")])
def test_summary_flags_reach_the_models_option_check(
    flag: str, value: str, capsys: pytest.CaptureFixture
) -> None:
    fails_cleanly(["summary", "unet", flag, value], capsys, repr(value), flag.lstrip("-"))


def test_unknown_dataset(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    fails_cleanly(["train", "--data", "kittie", "--out", str(tmp_path / "r")], capsys, "kittie")


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pixelwise", "train", "--data", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown dataset 'nope'; choose from: synthetic, folder, camvid, isbi2012, voc, "
        "cityscapes, kitti, coco"
    ]


def test_evaluate_on_folder_data_uses_the_models_classes(trained_run: Path, tmp_path: Path) -> None:
    from pixelwise.data.synthetic import generate_shapes

    images, masks = generate_shapes(3, 32, seed=9)
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        for folder, array in (("images", image), ("masks", mask)):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(array).save(tmp_path / folder / f"s{i}.png")
    out = tmp_path / "eval"
    argv = ["evaluate", str(trained_run / "model"), "--data", "folder", "--out", str(out),
            "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks")]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "all" and metrics["num_pixels"] == 3 * 32 * 32
    assert list(metrics["per_class"]) == ["background", "circle", "square", "triangle"]


def test_batch_of_one_for_deeplab_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """DeepLab's image pooling cannot train on one image per batch: say so, no traceback."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "model": {"name": "deeplabv3"}}))
    argv = ["train", "--config", str(config), "--out", str(tmp_path / "run"),
            "--encoder", "resnet18", "--batch-size", "1"]  # fmt: skip
    assert main(argv) == 2
    assert "batch size 1 is too small for this model" in capsys.readouterr().err


def test_evaluate_writes_every_requested_extra_and_the_heatmap(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "eval"
    argv = ["evaluate", str(trained_run), "--out", str(out), "--per-image", "--boundary", "1",
            "--crops", "1.0,0.5", "--instances", "circle,3"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["level"] == "dataset"
    assert metrics["per_image"]["level"] == "per_image"
    assert metrics["boundary"]["tolerance_px"] == 1.0
    assert metrics["crops"]["factors"] == [1.0, 0.5]
    assert metrics["crops"]["pixel_accuracy"][0] == pytest.approx(metrics["pixel_accuracy"])
    assert metrics["instances"]["classes"] == ["circle", "triangle"]
    assert (out / "confusion.png").is_file()
    printed = capsys.readouterr().out
    per_image = metrics["per_image"]
    assert f"per-image means over 3 images: mIoU {per_image['miou']:.3f}" in printed
    assert "boundary F1 (tolerance 1 px" in printed
    assert f"{metrics['boundary']['mean_bf']:.3f}" in printed
    assert "central crops (factor: mIoU / pixel acc): 1: " in printed
    assert "F1@0.5 " in printed and "AP (mean over IoU 0.5..0.95)" in printed


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--instances", "cat"], "unknown class 'cat'"),
        (["--crops", "1,x"], "--crops expects a list of values, each a number in (0, 1]"),
        (["--crops", "0.5,1.0"], "crop factors must decrease strictly"),
    ],
)
def test_bad_evaluation_extras_are_clear_errors(
    trained_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    flags: list[str],
    fragment: str,
) -> None:
    assert main(["evaluate", str(trained_run), "--out", str(tmp_path / "e"), *flags]) == 2
    assert fragment in capsys.readouterr().err


def _arguments(parser: argparse.ArgumentParser, name: str = "pixelwise"):
    """Every argument of every (sub)command: ``(command, action)``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _arguments(subparser, f"{name} {sub}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield name, action


def test_every_argument_is_described_and_shows_its_default() -> None:
    for command, action in _arguments(build_parser()):
        where = f"{command} {action.option_strings or action.dest}"
        assert action.help, f"{where} has no help text"
        shown = action.default not in (None, False, [], argparse.SUPPRESS)
        if action.option_strings and shown:
            assert "default" in action.help, f"{where} does not show its default"

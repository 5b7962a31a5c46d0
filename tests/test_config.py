"""Run options: a bad value in YAML or as a flag is one clear error, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pixelwise.cli import build_parser, main, run_config
from pixelwise.config import RunConfig, differences, merge, resumable_keys, run_options
from pixelwise.errors import PixelwiseError
from pixelwise.flags import run_overrides
from tiny_run import TINY


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "epochs", "ten", "train.epochs must be an integer >= 1, got 'ten'"),
        ("train", "epochs", 2.5, "train.epochs must be an integer >= 1, got 2.5"),
        ("train", "epochs", 0, "train.epochs must be an integer >= 1, got 0"),
        ("train", "epochs", True, "train.epochs must be an integer >= 1, got True"),
        ("train", "lr", "fast", "train.lr must be a number > 0, got 'fast'"),
        ("train", "lr", float("nan"), "train.lr must be a number > 0, got nan"),
        ("data", "batch_size", "eight", "data.batch_size must be an integer >= 1"),
        ("data", "crop", 32, "data.crop must be a list of 2 values, each an integer >= 1"),
        ("data", "crop", [0, 32], "data.crop must be a list of 2 values"),
        ("data", "scale", 0, "data.scale must be a number in (0, 4], got 0"),
        ("data", "augment", ["hflip"], "data.augment must be a list of mappings"),
        ("data", "split_options", {"val": 3}, "data.split_options must be a mapping"),
        ("data", "num_workers", -1, "data.num_workers must be an integer >= 0, or null"),
        ("model", "name", 5, "model.name must be a string, got 5"),
        ("model", "options", [1, 2], "model.options must be a mapping of names to values"),
        ("train", "class_weights", [-1.0], "train.class_weights must be one of median_frequency"),
        ("train", "class_weights", "mfb", "train.class_weights must be one of median_frequency"),
        ("train", "devices", 0, "train.devices must be an integer >= 1 or one of auto"),
        ("train", "num_nodes", "two", "train.num_nodes must be an integer >= 1"),
        ("train", "warmup_steps", -3, "train.warmup_steps must be an integer >= 0"),
        ("train", "encoder_lr_mult", -1, "train.encoder_lr_mult must be a number >= 0"),
        ("method", "params", "k=3", "method.params must be a mapping"),
        ("method", "name", ["otsu"], "method.name must be a string, or null"),
    ],
)
def test_bad_yaml_values_name_the_key_and_what_it_accepts(
    tmp_path: Path, section: str, key: str, value: object, message: str
) -> None:
    file = tmp_path / "run.yaml"
    file.write_text(yaml.safe_dump({**TINY, section: {**TINY.get(section, {}), key: value}}))
    with pytest.raises(PixelwiseError) as caught:
        run_config(build_parser().parse_args(["train", "--config", str(file)]))
    assert message in str(caught.value)
    assert str(file) in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"out": 3}, "out must be a string, got 3"),
        ({"train": "fast"}, "train must be a mapping, got 'fast'"),
        ({"trian": {}}, "unknown key trian"),
        ({"train": {"epoch": 3}}, "unknown key train.epoch"),
    ],
)
def test_top_level_and_section_shapes_are_checked(raw: dict, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message.replace("(", r"\(")):
        RunConfig.from_dict(raw)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "-1"], "--epochs expects an integer >= 1, got '-1'"),
        (["--epochs", "0"], "--epochs expects an integer >= 1, got '0'"),
        (["--epochs", "ten"], "--epochs expects an integer >= 1, got 'ten'"),
        (["--batch-size", "0"], "--batch-size expects an integer >= 1, got '0'"),
        (["--lr", "-1"], "--lr expects a number > 0, got '-1'"),
        (["--lr", "inf"], "--lr expects a number > 0, got 'inf'"),
        (["--crop", "32", "x"], "--crop expects a list of 2 values"),
        (["--scale", "5"], "--scale expects a number in (0, 4], got '5'"),
        (["--devices", "none"], "--devices expects an integer >= 1 or one of auto"),
        (["--model-option", "base_width"], "--model-option expects KEY=VALUE"),
        (["--mask-values", "0-1"], "bad mask value map '0-1'"),
        (["--val-slices", "1,b"], "--val-slices expects a list of values, each an integer"),
    ],
)
def test_bad_flags_are_one_error_line_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert not out.exists()


def test_flags_parse_to_typed_values() -> None:
    argv = [
        "train", "--epochs", "3", "--lr", "1e-3", "--crop", "16", "24", "--class-weights",
        "1,2.5", "--devices", "auto", "--model-option", "base_width=8", "--upsample",
        "bilinear", "--separable", "--mask-values", "0:0,255:1", "--classes", "a,b",
        "--data-option", "val_fraction=0.25", "--param", "k=6",
    ]  # fmt: skip
    overrides = run_overrides(build_parser().parse_args(argv), "train")
    assert overrides == {
        "train.epochs": 3,
        "train.lr": 0.001,
        "data.crop": [16, 24],
        "train.class_weights": [1.0, 2.5],
        "train.devices": "auto",
        "model.options.base_width": 8,
        "model.options.upsample": "bilinear",
        "model.options.separable": True,
        "data.options.mask_values": {0: 0, 255: 1},
        "data.options.classes": ["a", "b"],
        "data.options.val_fraction": 0.25,
        "method.params.k": 6,
    }


def test_every_option_with_a_flag_appears_in_train_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for key, meta, _ in run_options():
        flag = meta.flag_for(key)
        if flag is not None and "train" in meta.commands:
            assert flag in text, key


def test_a_misspelled_flag_shows_the_commands_own_usage(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epoch", "3", "--out", "must-not-exist"])  # not an abbreviation
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: pixelwise train") and "unrecognized arguments: --epoch" in err


def test_differences_and_resumable_keys() -> None:
    base = RunConfig.from_dict(TINY)
    changed = merge(base, {"train.epochs": 5, "model.options.base_width": 8})
    assert differences(base, changed) == ["model.options.base_width", "train.epochs"]
    assert "train.epochs" in resumable_keys()
    assert "model.options.base_width" not in resumable_keys()
    assert "data.name" not in resumable_keys()

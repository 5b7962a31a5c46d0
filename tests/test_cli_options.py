"""The flags of predict, evaluate and serve come from their typed definitions: each flag a
field, its value checked by the field's kind, its default the library's."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from pixelwise.cli import build_parser, main
from pixelwise.cli.evaluate import EvaluateFlags
from pixelwise.cli.predict import PredictFlags, predict_options
from pixelwise.cli.serve import ServeFlags, serve_options
from pixelwise.config import SHORTCUTS, run_options
from pixelwise.errors import PixelwiseError
from pixelwise.flags import read_flags
from pixelwise.inference.options import PredictOptions
from pixelwise.options import (
    Integer,
    OptionalValue,
    OrNone,
    Size,
    Text,
    TileSize,
    WordList,
    parsed,
)
from pixelwise.serve.options import ServeOptions

DEFINITIONS = {"predict": PredictFlags, "evaluate": EvaluateFlags, "serve": ServeFlags}
HAND_WRITTEN = {
    "predict": {"--out", "--engine", "--address", "--cpus-per-worker", "--gpus-per-worker"},
    "evaluate": set(),
    "serve": set(),
}
"""Flags written by hand: those besides the definition's and the run options'."""


def field_flags(definition: type) -> set[str]:
    """``--name`` of every option field of a definition, its groups' included."""
    flags = set()
    for item in dataclasses.fields(definition):
        if "option" in item.metadata:
            flags.add("--" + item.name.replace("_", "-"))
        else:
            flags |= field_flags(item.default_factory)
    return flags


def run_flags(command: str) -> set[str]:
    flags = {meta.flag_for(key) for key, meta, _ in run_options() if command in meta.commands}
    return (flags - {None}) | {s.flag for s in SHORTCUTS if command in s.option.commands}


def command_flags(command: str) -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = subparsers.choices[command]._actions
    return {s for a in actions for s in a.option_strings if s not in ("-h", "--help")}


@pytest.mark.parametrize("command", sorted(DEFINITIONS))
def test_every_flag_is_a_field_of_the_commands_definition(command: str) -> None:
    given = command_flags(command)
    defined = field_flags(DEFINITIONS[command])
    assert defined <= given
    assert given - defined == HAND_WRITTEN[command] | run_flags(command)


def test_defaults_are_the_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXELWISE_TOKEN", raising=False)
    parser = build_parser()
    predict = parser.parse_args(["predict", "model", "image.png", "--out", "out"])
    assert predict_options(read_flags(predict, PredictFlags)) == PredictOptions()
    serve = parser.parse_args(["serve", "model"])
    assert serve_options(read_flags(serve, ServeFlags)) == ServeOptions()


def test_given_values_reach_the_options() -> None:
    argv = ["predict", "m", "x.png", "--out", "o", "--tile", "16", "20", "--overlap", "0.5",
            "--max-memory", "512M", "--max-pixels", "none", "--tta", "hflip", "scales:0.5,1",
            "--float-range", "0", "2", "--overlay", "--workers", "0"]  # fmt: skip
    options = predict_options(read_flags(build_parser().parse_args(argv), PredictFlags))
    assert (options.tile, options.tiling.size, options.tiling.overlap) == ("always", (16, 20), 0.5)
    assert options.max_memory == 512 * 2**20 and options.max_pixels is None
    assert options.tta is not None and options.tta.scales == (0.5, 1.0)
    assert options.float_range == (0.0, 2.0) and options.outputs.overlay and options.workers == 0
    argv = ["evaluate", "run", "--boundary", "--crops", "1,0.5", "--instances", "--per-image"]
    extras = read_flags(build_parser().parse_args(argv), EvaluateFlags).extras
    assert (extras.boundary, extras.crops, extras.instances) == (2.0, [1.0, 0.5], "all")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["predict", "m", "x.png", "--out", "o", "--overlap", "two"],
         "error: --overlap expects a number, got 'two'"),
        (["predict", "m", "x.png", "--out", "o", "--max-memory", "4X"],
         "error: --max-memory expects a size such as 4G or 512M, got '4X'"),
        (["predict", "m", "x.png", "--out", "o", "--tile", "16", "x"],
         "error: --tile expects auto, none or a tile size H W, got '16 x'"),
        (["predict", "m", "x.png", "--out", "o", "--max-pixels", "0"],
         "error: --max-pixels expects an integer >= 1 or none, got '0'"),
        (["predict", "m", "x.png", "--out", "o", "--blend", "soft"],
         "error: --blend expects one of gaussian, constant, got 'soft'"),
        (["serve", "m", "--max-memory", "4X"],
         "error: --max-memory expects a size such as 4G or 512M, got '4X'"),
        (["serve", "m", "--port", "http"], "error: --port expects an integer, got 'http'"),
        (["evaluate", "run", "--boundary", "wide"],
         "error: --boundary expects a number, got 'wide'"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_error_line_naming_the_flag(
    argv: list[str],
    line: str,
    capsys: pytest.CaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [line]
    assert not (tmp_path / "o").exists()


def test_help_shows_the_defaults_of_the_definitions(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--port PORT port (default 8000; 0: any free)" in text
    assert "--max-upload-mb MB largest request body in MiB (default 20)" in text
    assert "(default 1 GiB)" in text


def test_the_new_kinds_read_flag_text() -> None:
    assert Size().from_text("1.5K") == 1536 and Size().check(7) == 7
    assert OrNone(Integer(minimum=1)).from_text("None") is None
    assert TileSize().from_text("16") == (16, 16) and TileSize().from_text("none") == "none"
    assert WordList(Text()).from_text("d4 scales:0.5,1") == ["d4", "scales:0.5,1"]
    assert OptionalValue(Integer(), "3").from_text("4") == 4
    for kind, text in [(Size(), "-1G"), (TileSize(), "1 2 3"), (WordList(Integer()), "1 x")]:
        with pytest.raises(PixelwiseError, match=f"--flag expects {kind.accepts}"):
            parsed(kind, text, "--flag")

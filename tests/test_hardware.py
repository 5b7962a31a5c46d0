"""Trainer hardware settings: CLI flags and YAML keys, checked before training."""

from __future__ import annotations

import pytest

from pixelwise.cli import build_parser, run_config
from pixelwise.config import RunConfig
from pixelwise.engine.hardware import trainer_hardware
from pixelwise.errors import PixelwiseError


def test_flags_reach_the_trainer_arguments() -> None:
    flags = ["--devices", "2", "--num-nodes", "3", "--strategy", "ddp", "--precision", "32"]
    config = run_config(build_parser().parse_args(["train", *flags]))
    assert trainer_hardware(config.train) == {
        "accelerator": "auto",
        "devices": 2,
        "num_nodes": 3,
        "strategy": "ddp",
        "precision": "32-true",
    }


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"precision": "fp8"}, "'fp8'"),
        ({"strategy": "ddpp"}, "'ddpp'"),
        ({"num_nodes": 0}, "num_nodes"),
        ({"devices": -1}, "devices"),
    ],
)
def test_bad_settings_are_user_errors_naming_the_value(settings: dict, named: str) -> None:
    with pytest.raises(PixelwiseError, match=named):
        trainer_hardware(RunConfig.from_dict({"train": settings}).train)

"""Every recipe in ``configs/`` loads, and everything it names exists and accepts its options."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pixelwise.config import load_config
from pixelwise.data.augment import build_augmentation
from pixelwise.engine.fit import plan
from pixelwise.engine.optim import check_optimisation
from pixelwise.losses import parse_loss_spec
from pixelwise.models import build_model

RECIPES = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def test_there_are_recipes() -> None:
    assert {path.name for path in RECIPES} >= {
        "camvid-cpu.yaml",
        "camvid-gpu.yaml",
        "isbi2012-cpu.yaml",
    }


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_recipe_parts_build(path: Path) -> None:
    config = load_config(path)
    assert config.data.root == f"../shared/data/{config.data.name}"
    assert config.out == f"runs/{path.stem}"
    model = config.model
    build_model(model.name, num_classes=11, encoder=model.encoder, **model.options)
    parse_loss_spec(config.train.loss)
    check_optimisation(config.train)
    build_augmentation(config.data.augment, config.data.crop, ignore_index=255, seed=0)


@pytest.mark.data
@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_recipe_plans_on_the_real_data(path: Path, shared_data: Path) -> None:
    """The data checks pass and the model is resolved for the data's classes and channels."""
    config = load_config(path)
    root = str(shared_data / config.data.name)
    local = dataclasses.replace(config, data=dataclasses.replace(config.data, root=root))
    prepared = plan(local)
    assert prepared.model_config["num_classes"] == prepared.train.info.num_classes

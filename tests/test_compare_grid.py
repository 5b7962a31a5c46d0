"""Grid files: expansion into runs, their names and configurations, and every bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pixelwise.compare.grid import load_grid
from pixelwise.errors import PixelwiseError

BASE = {
    "model": {"name": "unet", "options": {"base_width": 4, "depth": 2}},
    "data": {"name": "synthetic", "options": {"size": 32}, "scale": 0.5},
    "train": {"epochs": 5, "lr": 0.01, "class_weights": "inverse"},
}
GRID = {
    "base": BASE,
    "axes": {
        "model.options.upsample": ["bilinear", "transposed", "pixel_shuffle"],
        "model.options.fusion": ["concat", "sum"],
    },
    "exclude": [{"model.options.upsample": "pixel_shuffle", "model.options.fusion": "sum"}],
    "classical": [{"name": "otsu"}, {"name": "kmeans", "params": {"k": 3}}],
    "seeds": [0, 1],
    "baseline": {"model.options.upsample": "transposed", "model.options.fusion": "concat"},
    "budget": {"epochs": 2},
}


ONLY_AXES = {"exclude": [], "baseline": None}


def write(folder: Path, grid: dict[str, Any], name: str = "grid.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def test_axes_seeds_exclusions_and_classical_methods_expand_into_named_runs(
    tmp_path: Path,
) -> None:
    grid = load_grid(write(tmp_path, GRID))
    runs = grid.runs(tmp_path / "out")
    names = [run.name for run in runs]
    assert names == [
        "upsample=bilinear,fusion=concat,seed=0",
        "upsample=bilinear,fusion=concat,seed=1",
        "upsample=bilinear,fusion=sum,seed=0",
        "upsample=bilinear,fusion=sum,seed=1",
        "upsample=transposed,fusion=concat,seed=0",
        "upsample=transposed,fusion=concat,seed=1",
        "upsample=transposed,fusion=sum,seed=0",
        "upsample=transposed,fusion=sum,seed=1",
        "upsample=pixel_shuffle,fusion=concat,seed=0",
        "upsample=pixel_shuffle,fusion=concat,seed=1",
        "method=otsu",
        "method=kmeans,k=3",
    ]
    assert grid.baseline == "upsample=transposed,fusion=concat"
    assert grid.configurations()[4] == "upsample=pixel_shuffle,fusion=concat"
    run = runs[7]
    assert run.configuration == "upsample=transposed,fusion=sum"
    assert run.settings == {"upsample": "transposed", "fusion": "sum"}
    assert run.config.seed == 1
    assert run.config.out == str(tmp_path / "out" / run.name)
    assert run.config.model.options == {
        "base_width": 4,
        "depth": 2,
        "upsample": "transposed",
        "fusion": "sum",
    }
    assert run.config.train.epochs == 2  # the budget
    assert run.config.train.lr == 0.01  # the base


def test_classical_runs_take_full_size_data_and_their_resolved_parameters(tmp_path: Path) -> None:
    runs = load_grid(write(tmp_path, GRID)).runs(tmp_path)
    kmeans = runs[-1]
    assert kmeans.kind == "classical"
    assert kmeans.config.method.name == "kmeans"
    assert kmeans.config.method.params["k"] == 3
    assert kmeans.config.method.params["space"] == "rgb"  # the method's default, filled in
    assert kmeans.config.data.scale == 1.0
    assert kmeans.config.data.options == {"size": 32}
    assert kmeans.config.train.epochs == 10  # untouched by the budget: not used


def test_flags_override_the_base_and_the_budget_but_not_an_axis(tmp_path: Path) -> None:
    path = write(tmp_path, GRID)
    run = load_grid(path, {"train.epochs": 1, "train.lr": 0.5}).runs(tmp_path)[0]
    assert (run.config.train.epochs, run.config.train.lr) == (1, 0.5)
    with pytest.raises(PixelwiseError, match="the flag for model"):
        load_grid(path, {"model.options.upsample": "nearest"})
    with pytest.raises(PixelwiseError, match="the grid's axes vary"):
        load_grid(path, {"model.options": {"fusion": "sum"}})


def test_named_variants_set_several_keys_and_null(tmp_path: Path) -> None:
    grid = {
        "base": BASE,
        "axes": {
            "loss": {
                "ce": {"train.loss": "ce", "train.class_weights": None},
                "weighted": {"train.loss": "ce"},
                "ce+dice": {"train.loss": "ce+dice"},
            }
        },
        "baseline": "loss=weighted",
        "budget": {"minutes": 1.5},
    }
    loaded = load_grid(write(tmp_path, grid))
    runs = loaded.runs(tmp_path)
    assert [run.name for run in runs] == [
        "loss=ce,seed=0",
        "loss=weighted,seed=0",
        "loss=ce+dice,seed=0",
    ]
    assert runs[0].config.train.class_weights is None
    assert runs[1].config.train.class_weights == "inverse"
    assert runs[2].config.train.loss == "ce+dice"
    assert runs[0].config.train.minutes == 1.5 and runs[0].config.train.epochs == 5
    assert loaded.baseline == "loss=weighted"


def test_a_base_file_is_read_relative_to_the_grid(tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    write(tmp_path / "recipes", BASE, "base.yaml")
    (tmp_path / "grids").mkdir()
    grid = {"base": "../recipes/base.yaml", "overrides": {"train.lr": 0.1}}
    run = load_grid(write(tmp_path / "grids", grid)).runs(tmp_path)[0]
    assert run.name == "seed=0" and run.configuration == "base"
    assert run.config.train.lr == 0.1 and run.config.data.scale == 0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"axes": {"model.options.upsample": ["bilinear", "bilinar"]}, **ONLY_AXES},
            "unknown upsample mode",
        ),
        ({"axes": {"train.epochs": ["two"]}, **ONLY_AXES}, "train.epochs must be an integer"),
        ({"axes": {"train.nonsense": [1]}, **ONLY_AXES}, "unknown key train.nonsense"),
        ({"axes": {"train.lr": []}, **ONLY_AXES}, "has no values"),
        ({"axes": {"train.lr": [0.1, "0.1"]}, **ONLY_AXES}, "the same name"),
        ({"exclude": [{"train.lr": 1}]}, "'train.lr' is not an axis"),
        ({"exclude": [{"model.options.fusion": "both"}]}, "'both' is not a value"),
        ({"classical": [{"name": "otsu", "params": {"k": 3}}]}, "otsu"),
        ({"classical": ["otsu"]}, "classical must be a list"),
        ({"seeds": [0, 0]}, "distinct"),
        ({"budget": {"hours": 1}}, "unknown key 'hours'"),
        ({"budget": {"epochs": 0}}, "budget.epochs must be an integer >= 1"),
        ({"scoring": {"bootstrap": 5}}, "scoring.bootstrap must be an integer >= 100"),
        ({"baseline": {"model.options.fusion": "concat"}}, "exactly one configuration"),
        ({"baseline": "upsample=nearest"}, "not a configuration"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"base": 3}, "base must be"),
        ({"train": {}}, "unknown key 'train'"),
    ],
)
def test_a_bad_grid_names_its_mistake(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        load_grid(write(tmp_path, {**GRID, **change}))


def test_runs_that_would_share_a_folder_are_refused(tmp_path: Path) -> None:
    grid = {**GRID, **ONLY_AXES, "axes": {"train.loss": ["ce/dice", "ce dice"]}}
    with pytest.raises(PixelwiseError, match="the same name in run names"):
        load_grid(write(tmp_path, grid))
    grid = {**GRID, **ONLY_AXES, "axes": {}, "classical": [{"name": "otsu"}] * 2}
    with pytest.raises(PixelwiseError, match="share the folder name 'method=otsu'"):
        load_grid(write(tmp_path, grid))


def test_a_missing_or_broken_grid_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(PixelwiseError, match="grid file not found"):
        load_grid(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("axes: [unclosed\n")
    with pytest.raises(PixelwiseError, match="cannot parse grid file"):
        load_grid(tmp_path / "broken.yaml")

"""``pixelwise compare`` end to end on a tiny 2×2 grid of generated data (plus k-means):
ordinary runs, identical scoring, skipping, resuming, failures, trained runs, refusals."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pixelwise.api import evaluate_model
from pixelwise.cli import main
from pixelwise.compare.scoring import ImageScores
from pixelwise.config import load_config

BASE = {
    "model": {"name": "unet", "options": {"base_width": 4, "depth": 2}},
    "data": {
        "name": "synthetic",
        "options": {"size": 32, "seed": 3},
        "split_options": {"train": {"num_images": 6}, "val": {"num_images": 4}},
        "batch_size": 3,
    },
    "train": {"accelerator": "cpu", "lr": 0.01},
}
GRID = {
    "name": "tiny",
    "description": "a 2×2 grid on generated shapes",
    "base": BASE,
    "axes": {
        "model.options.upsample": ["bilinear", "transposed"],
        "model.options.fusion": ["concat", "sum"],
    },
    "classical": [{"name": "kmeans", "params": {"k": 4}}],
    "baseline": {"model.options.upsample": "transposed", "model.options.fusion": "concat"},
    "budget": {"epochs": 1},
    "scoring": {"bootstrap": 200, "latency_repeats": 1, "examples": 2, "worst": 1},
}
NETWORKS = [
    "upsample=bilinear,fusion=concat,seed=0",
    "upsample=bilinear,fusion=sum,seed=0",
    "upsample=transposed,fusion=concat,seed=0",
    "upsample=transposed,fusion=sum,seed=0",
]
KMEANS = "method=kmeans,k=4"


def grid_file(folder: Path, grid: dict[str, Any]) -> Path:
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def results(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text())


def actions(out: Path) -> dict[str, str]:
    return {run["name"]: run["action"] for run in results(out)["runs"]}


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid, compared once through the CLI."""
    folder = tmp_path_factory.mktemp("compare")
    out = folder / "out"
    assert main(["compare", str(grid_file(folder, GRID)), "--out", str(out)]) == 0
    return out


@pytest.fixture
def copy(compared: Path, tmp_path: Path) -> Path:
    """A copy of the compared folder, for tests that change it."""
    return Path(shutil.copytree(compared, tmp_path / "out"))


def test_every_run_is_an_ordinary_run_folder_and_the_comparison_is_written(compared: Path) -> None:
    for name in [*NETWORKS, KMEANS]:
        run = compared / "runs" / name
        assert (run / "config.yaml").is_file() and (run / "model" / "config.json").is_file()
        assert (run / "eval-val" / "metrics.json").is_file()
    assert (compared / "runs" / NETWORKS[0] / "checkpoints" / "last.ckpt").is_file()
    document = results(compared)
    names = [c["name"] for c in document["configurations"]]
    assert names == [name.removesuffix(",seed=0") for name in NETWORKS] + [KMEANS]
    assert document["baseline"] == "upsample=transposed,fusion=concat"
    assert all(run["status"] == "done" and run["action"] == "train" for run in document["runs"])
    with (compared / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["configuration"] for row in rows] == names
    assert rows[0]["upsample"] == "bilinear" and rows[4]["method"] == "kmeans"
    assert float(rows[0]["miou_mean"]) == pytest.approx(
        document["configurations"][0]["metrics"]["miou"]["mean"]
    )
    page = (compared / "report.html").read_text()
    assert "Content-Security-Policy" in page and "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") >= 10
    legend = page.split('<ul class="legend" aria-label="classes">')[1].split("</ul>")[0]
    assert [name in legend for name in ("background", "circle", "square", "triangle")] == [True] * 4


def test_every_run_is_scored_like_evaluate_scores_it(compared: Path) -> None:
    document = results(compared)
    for configuration, name in zip(document["configurations"], [*NETWORKS, KMEANS], strict=True):
        run = compared / "runs" / name
        data = load_config(run / "config.yaml").data
        independent = evaluate_model(
            run, data, "val", out=compared.parent / "check", progress=False
        )
        metrics = configuration["metrics"]
        assert metrics["miou"]["mean"] == pytest.approx(independent.scores.miou, abs=1e-12)
        assert metrics["pixel_accuracy"]["mean"] == pytest.approx(
            independent.scores.pixel_accuracy, abs=1e-12
        )
        assert metrics["miou"]["ci"]["low"] <= metrics["miou"]["ci"]["high"]
        scores = ImageScores.load(compared / "scores" / name / "per_image.npz")
        assert scores.matrices.shape == (4, 4, 4)
        assert scores.matrices.sum(axis=(0, 2)).tolist() == list(independent.scores.support)
        saved = json.loads((compared / "scores" / name / "metrics.json").read_text())
        assert saved["miou"] == pytest.approx(independent.scores.miou, abs=1e-12)
        assert (
            saved["per_image"]["level"] == "per_image" and saved["boundary"]["tolerance_px"] == 2.0
        )
    network = document["configurations"][0]
    assert network["cost"]["parameters"] > 0 and network["cost"]["macs"] > 0
    assert network["cost"]["latency_ms"] > 0 and network["epochs"] == 1
    assert document["configurations"][-1]["cost"]["parameters"] is None  # k-means has none


def test_two_way_table_and_pareto_marks(compared: Path) -> None:
    document = results(compared)
    (table,) = document["two_way"]
    assert (table["rows"], table["columns"]) == ("upsample", "fusion")
    means = {c["name"]: c["metrics"]["miou"]["mean"] for c in document["configurations"]}
    assert table["cells"][0][1] == pytest.approx(means["upsample=bilinear,fusion=sum"])
    assert table["row_means"][1] == pytest.approx(
        (means["upsample=transposed,fusion=concat"] + means["upsample=transposed,fusion=sum"]) / 2
    )
    assert any(c["pareto"]["latency"] for c in document["configurations"])


def test_a_second_run_keeps_everything(copy: Path) -> None:
    before = (copy / "runs" / NETWORKS[0] / "metrics.csv").stat().st_mtime_ns
    assert main(["compare", str(copy / "grid.yaml"), "--out", str(copy)]) == 0
    assert set(actions(copy).values()) == {"keep"}
    assert (copy / "runs" / NETWORKS[0] / "metrics.csv").stat().st_mtime_ns == before


@pytest.mark.slow
def test_a_larger_budget_resumes_the_networks_exactly(copy: Path) -> None:
    first = (copy / "runs" / NETWORKS[0] / "metrics.csv").read_text().splitlines()
    assert main(["compare", str(copy / "grid.yaml"), "--out", str(copy), "--epochs", "2"]) == 0
    found = actions(copy)
    assert [found[name] for name in NETWORKS] == ["resume"] * 4
    assert found[KMEANS] == "keep"  # the budget does not touch a classical method
    rows = (copy / "runs" / NETWORKS[0] / "metrics.csv").read_text().splitlines()
    assert rows[:2] == first and len(rows) == 3  # header, the old epoch as it was, one more
    assert results(copy)["configurations"][0]["epochs"] == 2


def test_an_interrupted_run_is_resumed_and_scored(copy: Path) -> None:
    shutil.rmtree(copy / "runs" / NETWORKS[1] / "eval-val")  # as if killed before its end
    (copy / "scores" / NETWORKS[1] / "record.json").unlink()
    assert main(["compare", str(copy / "grid.yaml"), "--out", str(copy), "--dry-run"]) == 0
    assert not (copy / "runs" / NETWORKS[1] / "eval-val").exists()  # a dry run writes nothing
    assert main(["compare", str(copy / "grid.yaml"), "--out", str(copy)]) == 0
    found = actions(copy)
    assert found[NETWORKS[1]] == "resume" and found[NETWORKS[0]] == "keep"
    assert (copy / "runs" / NETWORKS[1] / "eval-val" / "metrics.json").is_file()


def test_a_run_of_another_configuration_is_refused_unless_overwrite(
    copy: Path, capsys: pytest.CaptureFixture
) -> None:
    saved = copy / "runs" / NETWORKS[0] / "config.yaml"
    config = yaml.safe_load(saved.read_text())
    config["train"]["lr"] = 0.5  # as if the grid's base had changed since
    saved.write_text(yaml.safe_dump(config))
    grid = str(copy / "grid.yaml")
    assert main(["compare", grid, "--out", str(copy)]) == 2
    assert "train.lr differs from the grid's" in capsys.readouterr().err
    assert main(["compare", grid, "--out", str(copy), "--overwrite"]) == 0
    found = actions(copy)
    assert found[NETWORKS[0]] == "retrain" and found[NETWORKS[1]] == "keep"
    assert load_config(saved).train.lr == 0.01


def test_a_failing_run_is_recorded_and_the_others_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    grid = {
        **GRID,
        "axes": {"weights": {"none": {}, "wrong": {"train.class_weights": [1.0, 2.0]}}},
        "classical": [],
        "baseline": None,
    }
    out = tmp_path / "out"
    assert main(["compare", str(grid_file(tmp_path, grid)), "--out", str(out)]) == 1
    assert "1 run(s) failed: weights=wrong,seed=0" in capsys.readouterr().err
    good, bad = results(out)["runs"]
    assert good["status"] == "done"
    assert bad["status"] == "failed" and bad["stage"] == "train" and "weight" in bad["error"]
    configuration = results(out)["configurations"][1]
    assert configuration["status"] == "failed" and configuration["metrics"] is None
    assert "weight" in (out / "report.html").read_text()


def test_trained_runs_are_compared_by_folder(compared: Path, tmp_path: Path) -> None:
    first, second = (str(compared / "runs" / name) for name in (NETWORKS[0], KMEANS))
    out = tmp_path / "trained"
    assert main(["compare", first, second, "--out", str(out), "--baseline", KMEANS]) == 0
    document = results(out)
    assert [c["name"] for c in document["configurations"]] == [NETWORKS[0], KMEANS]
    assert document["baseline"] == KMEANS and document["split"] == "val"
    expected = results(compared)["configurations"][0]["metrics"]["miou"]["mean"]
    assert document["configurations"][0]["metrics"]["miou"]["mean"] == pytest.approx(expected)
    assert document["configurations"][0]["metrics"]["miou"]["difference"] is not None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--epochs", "3"], "trains a grid"),
        (["--baseline", "nobody"], "not one of the runs"),
    ],
)
def test_bad_requests_for_trained_runs(
    compared: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    arguments: list[str],
    message: str,
) -> None:
    run = str(compared / "runs" / NETWORKS[0])
    assert main(["compare", run, "--out", str(tmp_path / "x"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_folder_pixelwise_did_not_make_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["compare", str(grid_file(tmp_path, GRID)), "--out", str(out)]) == 2
    assert "is not a pixelwise comparison" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_dry_run_lists_the_runs_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert main(["compare", str(grid_file(tmp_path, GRID)), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in [*NETWORKS, KMEANS]) and "5 runs" in printed
    assert not out.exists()


@pytest.mark.slow
def test_parallel_jobs_run_in_separate_processes(tmp_path: Path) -> None:
    grid = {
        **GRID,
        "axes": {"model.options.fusion": ["concat", "sum"]},
        "classical": [],
        "baseline": None,
    }
    out = tmp_path / "out"
    assert main(["compare", str(grid_file(tmp_path, grid)), "--out", str(out), "--jobs", "2"]) == 0
    document = results(out)
    assert [run["status"] for run in document["runs"]] == ["done", "done"]
    values = [c["metrics"]["miou"]["mean"] for c in document["configurations"]]
    assert all(np.isfinite(values))

"""``compare --executor ray``: each run a Ray task, with the same run folders, resume rule
and report as a local comparison; a run lost with its node resumes from its checkpoint.

The Ray scenario runs in a child process with a time limit (:mod:`bounded`).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bounded import run_scenario
from pixelwise.cli import main
from test_compare import BASE

RAY_MISSING = "ray is not installed (pip install 'pixelwise[ray]')"
GRID = {
    "name": "two",
    "base": BASE,
    "axes": {"model.options.fusion": ["concat", "sum"]},
    "budget": {"epochs": 1},
    "scoring": {"bootstrap": 100, "latency_repeats": 1, "examples": 1, "worst": 1},
}
RUNS = ["fusion=concat,seed=0", "fusion=sum,seed=0"]


def actions(out: Path) -> dict[str, str]:
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert all(run["status"] == "done" for run in runs), runs
    return {run["name"]: run["action"] for run in runs}


def ray_compare_scenario(root: Path) -> None:
    """Run in a child process; every check is an assert."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    grid = root / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID, sort_keys=False))
    out = root / "out"
    flags = ["--executor", "ray", "--cpus-per-run", "0.5"]
    assert main(["compare", str(grid), "--out", str(out), *flags]) == 0
    assert actions(out) == dict.fromkeys(RUNS, "train")
    for name in RUNS:  # ordinary run folders, trained by the comparison
        run = out / "runs" / name
        assert (run / "model" / "model.safetensors").is_file()
        assert json.loads((run / ".pixelwise-run").read_text())["command"] == "compare"
    assert (out / "report.html").is_file()
    # the same resume rule: nothing left to do, locally or on Ray; a longer budget resumes
    assert main(["compare", str(grid), "--out", str(out)]) == 0
    assert actions(out) == dict.fromkeys(RUNS, "keep")
    assert main(["compare", str(grid), "--out", str(out), "--epochs", "2", *flags]) == 0
    assert actions(out) == dict.fromkeys(RUNS, "resume")
    epochs = (out / "runs" / RUNS[0] / "metrics.csv").read_text().splitlines()
    assert len(epochs) == 3  # the header, epoch 0 and epoch 1


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason=RAY_MISSING)
def test_a_grid_runs_on_ray_with_local_folders_and_resume_rule(tmp_path: Path) -> None:
    run_scenario("test_ray_compare", "ray_compare_scenario", tmp_path, timeout=420)


def test_a_run_lost_with_its_node_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    from pixelwise.compare import plan_comparison
    from pixelwise.compare.runner import after_loss

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID, sort_keys=False))
    task = plan_comparison([grid], tmp_path / "out", progress=False).tasks[0]
    assert task.action == "train" and after_loss(task) == task  # nothing to resume from
    checkpoints = Path(task.model_dir) / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"")
    assert after_loss(task) == replace(task, action="resume")
    scored = replace(task, action="score")
    assert after_loss(scored) == scored  # no training left: done again as planned


def test_ray_flags_need_the_ray_executor(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID, sort_keys=False))
    status = main(["compare", str(grid), "--out", str(tmp_path / "o"), "--cpus-per-run", "2"])
    assert status == 2
    assert "error: --cpus-per-run applies to --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

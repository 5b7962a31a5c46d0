"""RayExecutor: each task a Ray task with its resources; a task whose worker dies is run
once more as ``retry(task)``; one lost twice is reported after the others finished.

The scenario runs in a child process with a time limit (:mod:`bounded`).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bounded import run_scenario


@dataclass(frozen=True)
class Job:
    """A stand-in for a comparison run: ``deaths`` attempts kill their worker first."""

    name: str
    folder: str
    deaths: int = 0
    resumed: bool = False


def attempt(job: Job) -> dict:
    """The work: count this attempt in a file; die (the worker process) while ``deaths``
    attempts have not yet died; else report what ran, and with what resources."""
    import ray

    tally = Path(job.folder) / f"{job.name}.attempts"
    attempts = int(tally.read_text()) + 1 if tally.exists() else 1
    tally.write_text(str(attempts))
    if attempts <= job.deaths:
        os._exit(1)
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    return {"name": job.name, "resumed": job.resumed, "attempts": attempts, "cpus": cpus}


def executor_scenario(root: Path) -> None:
    import ray

    from pixelwise.distributed.executor import RayExecutor
    from pixelwise.errors import PixelwiseError

    ray.init(num_cpus=2, include_dashboard=False)
    jobs = [Job("steady", str(root)), Job("once", str(root), 1), Job("twice", str(root), 2)]
    executor = RayExecutor(cpus_per_run=0.5, retry=lambda job: replace(job, resumed=True))
    results = []
    try:
        results.extend(executor.map(attempt, jobs))
    except PixelwiseError as error:
        assert "1 run(s) were lost" in str(error) and "twice" in str(error), error
    else:
        raise AssertionError("a job lost twice must be reported")
    by_name = {result["name"]: result for result in results}
    assert sorted(by_name) == ["once", "steady"]
    assert by_name["steady"] == {"name": "steady", "resumed": False, "attempts": 1, "cpus": 0.5}
    assert by_name["once"] == {"name": "once", "resumed": True, "attempts": 2, "cpus": 0.5}
    assert (root / "twice.attempts").read_text() == "2"  # retried once, not again


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_executor_runs_tasks_and_retries_a_lost_one_once(tmp_path: Path) -> None:
    run_scenario("test_ray_executor", "executor_scenario", tmp_path, timeout=300)


def test_ray_executor_resources_are_checked() -> None:
    from pixelwise.distributed.executor import RayExecutor
    from pixelwise.errors import PixelwiseError

    with pytest.raises(PixelwiseError, match="--cpus-per-run must be positive"):
        RayExecutor(cpus_per_run=0)
    with pytest.raises(PixelwiseError, match="--gpus-per-run must be 0 or more"):
        RayExecutor(gpus_per_run=-1)

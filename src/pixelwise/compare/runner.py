"""Running a comparison's runs: what each run needs, doing it, and executors that do many.

Each run becomes a :class:`Task` whose ``action`` says what is left to do:

- ``train``: nothing of it exists yet (or only a start that finished no epoch);
- ``resume``: it was interrupted (a checkpoint, no final evaluation), or its budget
  grew (``train.epochs``, ``train.minutes``): it continues from its last finished
  epoch with the exact resume of :func:`pixelwise.engine.fit.fit`;
- ``retrain``: its folder holds a run of another configuration and ``--overwrite``
  was given;
- ``score``: it is finished (its ``eval-<val>/metrics.json`` exists for this
  configuration), but its scores for the comparison are missing or out of date;
- ``keep``: it is finished and scored; nothing to do.

:func:`perform` does one task in the calling process, training with the workflow the
layer above gives it, and returns its record (a
failure is recorded, with its error, and does not stop the others). An executor maps
:func:`perform` over the tasks: :class:`LocalExecutor` runs them one after another, or
``jobs`` at a time in separate processes. Another executor (e.g. on a Ray cluster) only
needs the same :meth:`Executor.map`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from pixelwise.compare.folder import ERROR_LOG, RECORD
from pixelwise.compare.grid import CLASSICAL, PlannedRun, Scoring
from pixelwise.compare.scoring import score_model
from pixelwise.config import DataSection, RunConfig, differences, load_config, resumable_keys
from pixelwise.data.registry import load_split
from pixelwise.engine.speed import resolve_speed
from pixelwise.errors import PixelwiseError
from pixelwise.files import write_text_atomic
from pixelwise.models.saving import resolve_model_dir
from pixelwise.rundir import RunDir

COMMAND = "compare"
TRAINING_ACTIONS = ("train", "resume", "retrain")


@dataclass(frozen=True)
class Task:
    """One run of a comparison and what is left to do for it (see the module docstring).

    ``config`` is the run's configuration (None for a model trained elsewhere);
    ``model_dir`` the run (or saved model) to score; ``folder`` its scores folder;
    ``data``/``split`` what it is scored on; ``examples`` the images whose predictions
    are kept for every run; ``score_key`` fingerprints all that.
    """

    name: str
    configuration: str
    settings: dict[str, str]
    seed: int | None
    kind: str
    action: str
    config: RunConfig | None
    model_dir: str
    folder: str
    data: DataSection
    split: str
    scoring: Scoring
    examples: tuple[int, ...]
    progress: bool = True
    previous: dict[str, Any] = field(default_factory=dict)

    def score_key(self) -> str:
        """A fingerprint of what the scores depend on: the model's files, the data, the
        split and the scoring settings; scores with the same key are reused."""
        return _fingerprint(self.model_dir, self.data, self.split, self.scoring, self.examples)


def _fingerprint(
    model_dir: str, data: DataSection, split: str, scoring: Scoring, examples: tuple[int, ...]
) -> str:
    try:
        folder = resolve_model_dir(Path(model_dir))
        files = [
            [p.name, p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(folder.iterdir())
            if p.is_file()
        ]
    except (OSError, PixelwiseError):
        files = []
    document = {
        "files": files,
        "data": asdict(data),
        "split": split,
        "scoring": scoring.to_dict(),
        "examples": list(examples),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def training_action(run: PlannedRun, overwrite: bool) -> str:
    """What a grid run needs: ``train``, ``resume``, ``retrain`` or ``done``.

    Raises a user error when its folder holds something that pixelwise may not touch:
    a folder that is not a run (with a run's files), a run made by another command,
    or a run of another configuration without ``overwrite``.
    """
    folder = RunDir(Path(run.config.out))
    if not folder.root.exists() or not any(folder.root.iterdir()):
        return "train"
    maker = folder.made_by()
    if maker is None:
        folder.check_writable(resume=False, overwrite=False)  # names what is in the way
        return "train"
    if maker != COMMAND:
        raise PixelwiseError(
            f"'{folder.root}' holds a run made by `{maker}`, not by the comparison; "
            "move it away or choose another --out"
        )
    if not folder.config.is_file():
        return "train"  # killed before its configuration was written: nothing to keep
    # where the folder lies does not matter: a moved comparison is not trained again
    saved, _ = resolve_speed(load_config(folder.config))
    changed = [key for key in differences(saved, resolve_speed(run.config)[0]) if key != "out"]
    fixed = [key for key in changed if key not in resumable_keys()]
    if fixed:
        if overwrite:
            return "retrain"
        raise PixelwiseError(
            f"'{folder.root}' holds a run whose {fixed[0]} differs from the grid's; pass "
            "--overwrite to train it again, or choose another --out"
        )
    finished = (folder.eval_dir(run.config.data.val_split) / "metrics.json").is_file()
    if finished and not changed:
        return "done"
    has_checkpoint = folder.last_checkpoint.exists() or folder.previous_checkpoint.exists()
    if run.kind == CLASSICAL or not has_checkpoint:
        return "train"
    return "resume"


def _training_seconds(task: Task, wall: float | None) -> tuple[float | None, int | None]:
    """Training wall time and epochs: the sum of ``metrics.csv``'s per-epoch seconds
    (resumed sessions included) for a network; the fitting call's wall time otherwise."""
    path = Path(task.model_dir) / "metrics.csv"
    if task.kind != CLASSICAL and path.is_file():
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        return sum(float(row["seconds"] or 0) for row in rows), len(rows)
    if wall is not None:
        return wall, None
    return task.previous.get("training_seconds"), task.previous.get("epochs")


class Trainer(Protocol):
    """The training workflow (:func:`pixelwise.api.train`): fits ``config`` into its run
    folder and scores it on the validation split. Given by the layer above."""

    def __call__(
        self,
        config: RunConfig,
        *,
        resume: bool,
        overwrite: bool,
        progress: bool,
        command: str,
    ) -> Any: ...


def _train(task: Task, train: Trainer) -> float:
    assert task.config is not None
    started = time.perf_counter()
    train(
        task.config,
        resume=task.action == "resume",
        overwrite=task.action in ("train", "retrain") and RunDir(Path(task.model_dir)).holds_run(),
        progress=task.progress,
        command=COMMAND,
    )
    return time.perf_counter() - started


def _score(task: Task) -> dict[str, Any]:
    dataset = load_split(task.data, task.split, check=False)
    return score_model(
        Path(task.model_dir),
        dataset,
        task.scoring,
        task.examples,
        Path(task.folder),
        progress=task.progress,
        model=task.model_dir,
        data=task.data.name,
        split=task.split,
    )


def _failure(task: Task, stage: str, error: BaseException) -> dict[str, Any]:
    if isinstance(error, PixelwiseError):
        message = str(error)
    else:
        message = f"{type(error).__name__}: {error}"
        trace = "".join(traceback.format_exception(error))
        write_text_atomic(Path(task.folder) / ERROR_LOG, trace)
    return {"status": "failed", "stage": stage, "error": message}


def perform(task: Task, train: Trainer) -> dict[str, Any]:
    """Do what ``task`` needs (train with ``train``, resume, score), write its
    ``record.json``, return it.

    An error in training or scoring is recorded (``status: failed``, ``stage``,
    ``error``; an unexpected one's traceback in ``error.log``) instead of raised.
    """
    identity = {
        "name": task.name,
        "configuration": task.configuration,
        "settings": task.settings,
        "seed": task.seed,
        "kind": task.kind,
        "run_dir": task.model_dir,
    }
    if task.action == "keep":  # the scores as they were; what the run is, as planned now
        return {**task.previous, **identity, "action": "keep"}
    record: dict[str, Any] = {
        **identity,
        "action": task.action,
        "score_key": task.score_key(),
        "wall_seconds": {"train": None, "score": None},
    }
    stage, wall = "train", None
    try:
        if task.action in TRAINING_ACTIONS:
            wall = _train(task, train)
            record["wall_seconds"]["train"] = wall
            record["score_key"] = task.score_key()  # the model's files changed
        stage, started = "score", time.perf_counter()
        summary = _score(task)
        record["wall_seconds"]["score"] = time.perf_counter() - started
        record |= {"status": "done", "stage": None, "error": None, **summary}
    except Exception as error:
        record |= _failure(task, stage, error)
    seconds, epochs = _training_seconds(task, wall)
    record |= {"training_seconds": seconds, "epochs": epochs}
    write_text_atomic(Path(task.folder) / RECORD, json.dumps(record, indent=2) + "\n")
    return record


def after_loss(task: Task) -> Task:
    """The task to run again after its worker or node died: a network run that left a
    checkpoint resumes from it; anything else is done again as planned."""
    if task.action not in TRAINING_ACTIONS or task.kind == CLASSICAL:
        return task
    folder = RunDir(Path(task.model_dir))
    if folder.last_checkpoint.exists() or folder.previous_checkpoint.exists():
        return replace(task, action="resume")
    return task


class Executor(Protocol):
    """Runs tasks: ``map(work, tasks)`` yields ``work(task)`` of each, in any order."""

    def map(
        self, work: Callable[[Task], dict[str, Any]], tasks: Sequence[Task]
    ) -> Iterator[dict[str, Any]]: ...


def _quiet_worker(threads: int) -> None:
    """A worker process: its share of the cores, and Lightning's chatter off."""
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore")


@dataclass(frozen=True)
class LocalExecutor:
    """Runs the tasks on this machine: in this process (``jobs=1``), or ``jobs`` at a time,
    each in its own process (spawned) with ``cpu_count // jobs`` torch threads."""

    jobs: int = 1

    def map(
        self, work: Callable[[Task], dict[str, Any]], tasks: Sequence[Task]
    ) -> Iterator[dict[str, Any]]:
        if self.jobs == 1 or len(tasks) <= 1:
            for task in tasks:
                yield work(task)
            return
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            self.jobs, mp_context=context, initializer=_quiet_worker, initargs=(threads,)
        ) as pool:
            futures = [pool.submit(work, task) for task in tasks]
            for future in as_completed(futures):
                yield future.result()

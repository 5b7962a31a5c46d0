"""A comparison from start to end: plan, check, run, summarize, report.

Two sources of runs:

- a grid (:func:`plan_grid`): its runs are trained into ``OUT/runs/<name>/`` as
  needed (see :mod:`pixelwise.compare.runner` for what "needed" means) and scored;
- models trained elsewhere (:func:`plan_trained`): run or saved-model folders, only
  scored, each under its folder's name.

Everything is checked before anything is written: the comparison folder, every run's
configuration and folder, and the scored split (every image read). Then
:func:`run_comparison` holds the comparison folder's lock, lets an executor do the
tasks, and writes ``results.json``, ``results.csv`` and ``report.html``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pixelwise.compare.figures import cost_png, curves_png, panels
from pixelwise.compare.folder import ComparisonDir
from pixelwise.compare.grid import CLASSICAL, NETWORK, Grid, Scoring, check_baseline, load_grid
from pixelwise.compare.report import Pictures, render
from pixelwise.compare.results import results_csv, summarize
from pixelwise.compare.runner import (
    Executor,
    LocalExecutor,
    Task,
    Trainer,
    perform,
    training_action,
)
from pixelwise.compare.scoring import PER_IMAGE_FILE, ImageScores, load_predictions
from pixelwise.config import DataSection, RunConfig, load_config, merge
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.registry import load_split
from pixelwise.errors import PixelwiseError
from pixelwise.files import write_text_atomic
from pixelwise.inference.evaluate import HEATMAP_FILE
from pixelwise.models.card import ClassicalCard
from pixelwise.models.saving import read_any_card, resolve_model_dir

logger = logging.getLogger("pixelwise")


@dataclass(frozen=True)
class Plan:
    """What a comparison will do: its tasks, and how to describe and report it."""

    folder: ComparisonDir
    tasks: list[Task]
    order: list[str]
    baseline: str
    axes: list[str]
    scoring: Scoring
    data: DataSection
    split: str
    title: str
    description: str
    meta: dict[str, str]
    grid_text: str | None = None


@dataclass(frozen=True)
class Comparison:
    """A finished comparison: its plan, the results document and the report's path."""

    plan: Plan
    document: dict[str, Any]
    report: Path


def _examples(count: int, num_images: int) -> tuple[int, ...]:
    """``count`` image indices spread evenly over the split (first and last included)."""
    if count == 0 or num_images == 0:
        return ()
    return tuple(
        sorted({int(i) for i in np.linspace(0, num_images - 1, min(count, num_images)).round()})
    )


def _scored_split(data: DataSection, split: str) -> SegmentationDataset:
    """The split every run is scored on, every image read and checked now."""
    return load_split(data, split, check=True)


def _reuse(folder: ComparisonDir, task: Task) -> Task:
    """``keep`` a finished run whose scores are up to date, else ``score`` it."""
    previous = folder.read_record(task.name) or {}
    if previous.get("status") == "done" and previous.get("score_key") == task.score_key():
        return dataclasses.replace(task, action="keep", previous=previous)
    return dataclasses.replace(task, previous=previous)


def plan_grid(grid: Grid, out: Path, overwrite: bool = False, progress: bool = True) -> Plan:
    """Check the grid's runs against ``out`` and decide what each needs."""
    folder = ComparisonDir(out)
    runs = grid.runs(folder.runs)
    folder.check_writable([run.name for run in runs])
    actions = {run.name: training_action(run, overwrite) for run in runs}
    data = grid.base.data
    dataset = _scored_split(data, grid.split)
    if any(action != "done" for action in actions.values()):
        load_split(data, data.train_split, check=True)
    examples = _examples(grid.scoring.examples, len(dataset))
    tasks = []
    for run in runs:
        action = actions[run.name]
        task = Task(
            name=run.name,
            configuration=run.configuration,
            settings=run.settings,
            seed=run.seed,
            kind=run.kind,
            action="score" if action == "done" else action,
            config=run.config,
            model_dir=run.config.out,
            folder=str(folder.scores(run.name)),
            data=run.config.data,
            split=grid.split,
            scoring=grid.scoring,
            examples=examples,
            progress=progress,
        )
        tasks.append(_reuse(folder, task) if action == "done" else task)
    meta = {
        "grid": grid.source,
        "data": f"{data.name} ({data.root or 'generated'})",
        "scored split": f"{grid.split}, {len(dataset)} images",
        "budget per run": grid.budget.describe(),
        "seeds": ", ".join(map(str, grid.seeds)),
        "baseline": grid.baseline,
    }
    return Plan(
        folder,
        tasks,
        grid.configurations(),
        grid.baseline,
        [axis.short for axis in grid.axes],
        grid.scoring,
        data,
        grid.split,
        f"Comparison: {grid.name}",
        grid.description,
        meta,
        yaml.safe_dump(grid.raw, sort_keys=False),
    )


def _run_name(path: Path) -> str:
    model = resolve_model_dir(path)
    return (model.parent if model.name == "model" else model).resolve().name


def _dataset_key(data: DataSection) -> str:
    """What names the images and masks (not how training read them: crops, scale, ...)."""
    return repr((data.name, data.root, data.options, data.split_options))


def _trained_data(paths: Sequence[Path], data: DataSection | None) -> DataSection:
    """The data flags' section, or else the one data section every run was trained on."""
    if data is not None:
        return data
    sections = []
    for path in paths:
        config = resolve_model_dir(path).parent / "config.yaml"
        if not config.is_file():
            raise PixelwiseError(f"'{path}' is not a run directory: give --data")
        sections.append(load_config(config).data)
    if len({_dataset_key(section) for section in sections}) > 1:
        raise PixelwiseError("the runs were trained on different data; give --data")
    return sections[0]


def plan_trained(
    paths: Sequence[str | Path],
    out: Path,
    data: DataSection | None,
    split: str | None,
    scoring: Scoring,
    baseline: str | None = None,
    progress: bool = True,
) -> Plan:
    """Score models trained elsewhere (run or saved-model folders) side by side."""
    paths = [Path(p) for p in paths]
    names = [_run_name(path) for path in paths]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise PixelwiseError(
                f"'{paths[names.index(name)]}' and '{paths[i]}' have the same name {name!r}"
            )
    if baseline is not None and baseline not in names:
        raise PixelwiseError(f"--baseline {baseline!r} is not one of the runs: {', '.join(names)}")
    data = _trained_data(paths, data)
    split = split or data.val_split
    folder = ComparisonDir(out)
    folder.check_writable(names)
    dataset = _scored_split(data, split)
    examples = _examples(scoring.examples, len(dataset))
    tasks = []
    for path, name in zip(paths, names, strict=True):
        card = read_any_card(resolve_model_dir(path))
        if card.info.num_classes != dataset.info.num_classes:
            raise PixelwiseError(
                f"'{path}' predicts {card.info.num_classes} classes but {data.name} {split} "
                f"has {dataset.info.num_classes}"
            )
        kind = CLASSICAL if isinstance(card, ClassicalCard) else NETWORK
        task = Task(
            name, name, {"run": name}, None, kind, "score", None, str(path),
            str(folder.scores(name)), data, split, scoring, examples, progress,
        )  # fmt: skip
        tasks.append(_reuse(folder, task))
    meta = {
        "runs": ", ".join(str(p) for p in paths),
        "data": f"{data.name} ({data.root or 'generated'})",
        "scored split": f"{split}, {len(dataset)} images",
        "baseline": baseline or names[0],
    }
    title = f"Comparison of {len(names)} models on {data.name} {split}"
    return Plan(
        folder, tasks, names, baseline or names[0], [], scoring, data, split, title, "", meta
    )


def _curves(records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    curves = {}
    for record in records:
        path = Path(record["run_dir"]) / "metrics.csv"
        if record["kind"] != CLASSICAL and path.is_file():
            with path.open(newline="") as handle:
                curves[record["name"]] = list(csv.DictReader(handle))
    return curves


def _pictures(plan: Plan, document: dict[str, Any], scores: dict[str, ImageScores]) -> Pictures:
    """Curves, cost plot, the side-by-side examples, worst images and confusion matrices."""
    dataset = load_split(plan.data, plan.split, check=False)
    info = dataset.info
    points = [
        {"number": i, "miou": c["metrics"]["miou"]["mean"], **c["cost"], "pareto": c["pareto"]}
        for i, c in enumerate(document["configurations"], start=1)
        if c["metrics"]
    ]
    legend = list(zip(info.classes, info.colours, strict=True))
    pictures = Pictures(
        curves=curves_png(_curves(document["runs"])), cost=cost_png(points), legend=legend
    )
    done = [r for r in document["runs"] if r.get("status") == "done"]
    first_run = {}
    for record in done:
        first_run.setdefault(record["configuration"], record)
    predictions = {r["name"]: load_predictions(plan.folder.scores(r["name"])) for r in done}
    for index in plan.tasks[0].examples if plan.tasks else ():
        image, mask = dataset[index]
        shown = [(c, predictions[r["name"]][index]) for c, r in first_run.items()]
        picture, truth, overlays = panels(
            image, mask, info.colours, info.ignore_index, [p for _, p in shown]
        )
        names = [c for c, _ in shown]
        pictures.examples.append(
            (dataset.stem(index), picture, truth, dict(zip(names, overlays, strict=True)))
        )
    for record in done:
        miou = scores[record["name"]].image_miou()
        images = []
        for index in record["worst"]:
            image, mask = dataset[index]
            picture, truth, (prediction,) = panels(
                image, mask, info.colours, info.ignore_index, [predictions[record["name"]][index]]
            )
            images.append((dataset.stem(index), picture, truth, prediction, float(miou[index])))
        pictures.worst[record["name"]] = images
        heatmap = plan.folder.scores(record["name"]) / HEATMAP_FILE
        pictures.confusion[record["name"]] = heatmap.read_bytes()
    return pictures


def _summarize(
    plan: Plan, records: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, ImageScores]]:
    scores = {
        r["name"]: ImageScores.load(plan.folder.scores(r["name"]) / PER_IMAGE_FILE)
        for r in records
        if r.get("status") == "done"
    }
    document = summarize(records, scores, plan.order, plan.baseline, plan.axes, plan.scoring)
    header = {
        "format": "pixelwise-comparison",
        "title": plan.title,
        "description": plan.description,
        "data": dataclasses.asdict(plan.data),
        "split": plan.split,
        "examples": list(plan.tasks[0].examples) if plan.tasks else [],
        "scoring": plan.scoring.to_dict(),
        "meta": plan.meta,
    }
    return header | document, scores


def _timing(records: list[dict[str, Any]]) -> dict[str, str]:
    """How latency was measured, from the first scored run's record."""
    cost = next((r["cost"] for r in records if r.get("status") == "done"), None)
    if cost is None:
        return {}
    height, width = cost["image_size"]
    return {
        "latency": f"median of {cost['latency_repeats']} predictions of one {height}×{width} "
        f"image, {cost['threads']} torch thread{'s' if cost['threads'] != 1 else ''}, "
        f"{platform.machine()} CPU with "
        f"{os.cpu_count()} cores, runs one after another unless --jobs > 1",
    }


def run_comparison(
    plan: Plan,
    train: Trainer,
    executor: Executor | None = None,
    report: Callable[[dict[str, Any], int, int], None] | None = None,
) -> Comparison:
    """Do the plan's tasks (``executor``: default :class:`LocalExecutor`; runs trained by
    ``train``), then write
    ``results.json``, ``results.csv`` and ``report.html`` into the comparison folder.

    ``report(record, done, total)`` is called as each run finishes.
    """
    executor = executor or LocalExecutor()
    folder = plan.folder
    with folder.claim():
        if plan.grid_text is not None:
            write_text_atomic(folder.grid, plan.grid_text)
        records: dict[str, dict[str, Any]] = {}
        for record in executor.map(partial(perform, train=train), plan.tasks):
            records[record["name"]] = record
            if report is not None:
                report(record, len(records), len(plan.tasks))
        ordered = [records[task.name] for task in plan.tasks]
        document, scores = _summarize(plan, ordered)
        written = time.strftime("%Y-%m-%d %H:%M")
        document["meta"] = {**plan.meta, **_timing(ordered), "written": written}
        write_text_atomic(
            folder.results_json, json.dumps(document, indent=2, allow_nan=False) + "\n"
        )
        write_text_atomic(folder.results_csv, results_csv(document))
        page = render(
            plan.title,
            plan.description,
            document["meta"],
            document,
            _pictures(plan, document, scores),
            plan.scoring.confidence,
        )
        write_text_atomic(folder.report, page)
    return Comparison(plan, document, folder.report)


def plan_comparison(
    sources: Sequence[str | Path],
    out: str | Path,
    overrides: dict[str, Any] | None = None,
    split: str | None = None,
    baseline: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Plan:
    """A grid file (one source that is a file) or trained run/model folders (the others).

    ``overrides`` are the dotted keys of the run flags: for a grid, every run's; for
    trained models only ``data.*`` keys, which change the data they are scored on.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not sources:
        raise PixelwiseError("give a grid file or the run folders to compare")
    if len(sources) == 1 and Path(sources[0]).is_file():
        grid = load_grid(sources[0], overrides)
        if split is not None:
            grid = dataclasses.replace(grid, split=split)
        if baseline is not None:
            grid = dataclasses.replace(grid, baseline=check_baseline(baseline, grid))
        return plan_grid(grid, Path(out), overwrite, progress)
    files = [str(s) for s in sources if Path(s).is_file()]
    if files:
        raise PixelwiseError(f"'{files[0]}' is a file: give one grid file, or run folders only")
    return plan_trained(
        sources,
        Path(out),
        _data_overrides(sources, overrides),
        split,
        Scoring(),
        baseline,
        progress,
    )


def _data_overrides(sources: Sequence[str | Path], overrides: dict[str, Any]) -> DataSection | None:
    """The data the trained models are scored on, when the data flags change it."""
    other = sorted(key for key in overrides if not key.startswith("data."))
    if other:
        raise PixelwiseError(
            f"the flag for {other[0]} trains a grid; models trained elsewhere are only scored "
            "(only the data flags apply)"
        )
    if not overrides:
        return None
    start = (
        RunConfig()
        if "data.name" in overrides
        else dataclasses.replace(RunConfig(), data=_trained_data([Path(s) for s in sources], None))
    )
    return merge(start, overrides).data


ACTIONS = {
    "train": "train",
    "resume": "resume from its last finished epoch",
    "retrain": "train again (--overwrite: its folder holds another configuration)",
    "score": "score (trained)",
    "keep": "nothing (trained and scored)",
}


def plan_lines(plan: Plan) -> str:
    """The plan as text: one line per run and what it needs."""
    width = max(len(task.name) for task in plan.tasks)
    lines = [f"{len(plan.tasks)} runs into {plan.folder.root}; scored on {plan.split}"]
    lines += [f"  {task.name:<{width}}  {ACTIONS[task.action]}" for task in plan.tasks]
    lines.append(f"baseline: {plan.baseline}")
    return "\n".join(lines)

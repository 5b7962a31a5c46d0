"""The workflows behind the CLI as plain functions: train, plan, evaluate, predict, compare,
export, serve."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pixelwise.classical.training import fit_classical
from pixelwise.config import DataSection, RunConfig, merge
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.reader import DEFAULT_MAX_PIXELS
from pixelwise.data.registry import load_split
from pixelwise.errors import PixelwiseError
from pixelwise.export.onnx import DEFAULT_OPSET
from pixelwise.files import write_text_atomic
from pixelwise.inference.backends import (
    check_backend,
    exported_backends,
    installed_backends,
    load_runnable,
)
from pixelwise.inference.benchmark import REFERENCE, BackendTiming, compare_backends, segmenter_on
from pixelwise.inference.calibration import calibration_inputs
from pixelwise.inference.evaluate import (
    METRICS_FILES,
    EvaluationOptions,
    evaluate,
    write_metrics,
)
from pixelwise.inference.plan import model_fingerprint
from pixelwise.inference.predict import PredictOptions, PredictReport, predict_images
from pixelwise.inference.segmenter import Segmenter
from pixelwise.metrics import SegmentationScores
from pixelwise.models.saving import load_model, refuse_model_folder, resolve_model_dir
from pixelwise.ownership import OwnedFolder, folder_lock, not_written_by
from pixelwise.planner import (
    FINGERPRINT_FILE,
    PLAN_COMMAND,
    PLAN_FILE,
    Plan,
    fingerprint_json,
    make_plan,
    plan_yaml,
    write_plan,
)
from pixelwise.rundir import RunDir

if TYPE_CHECKING:
    from pixelwise.compare import Comparison, Executor, Plan
    from pixelwise.distributed.cluster import RayPredictOptions
    from pixelwise.serve.options import ServeOptions

FITTED_MAPPING = "fitted: ids to classes by a vote on the training data"
INSIDE_REGIONS = "inside the regions of interest only: the pixels outside them are ignored"
ORACLE_MAPPING = (
    "ORACLE: ids matched one-to-one to classes on the scored data itself (Hungarian); "
    "an upper bound, not a fair score"
)


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one split, the extra scores' ``metrics.json`` forms, where
    ``metrics.json`` went, and what was scored when not every labelled pixel was (the
    regions of interest)."""

    scores: SegmentationScores
    metrics_path: Path
    extras: dict[str, dict]
    scored: str | None = None


def train(
    config: RunConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    command: str = "train",
    then: Callable[[RunDir], None] | None = None,
    on_start: Callable[[RunDir], None] | None = None,
) -> tuple[RunDir, Evaluation]:
    """Fit as ``config`` says, then score the best model on the validation split.

    With ``config.method.name`` set, a classical method is fitted instead of a network.
    ``command`` is recorded in the run folder as the command that made it;
    ``on_start(run)`` runs once the folder is claimed, ``then(run)`` after the
    evaluation, while the run folder is still locked.
    """
    evaluations: list[Evaluation] = []

    def finish(run: RunDir) -> None:
        val_split = config.data.val_split  # checked by fit already
        folder = OwnedFolder(run.eval_dir(val_split), "evaluate")  # checked with the claim
        segmenter = Segmenter.load(run.root)
        dataset = load_split(config.data, val_split, check=False)
        evaluations.append(
            score_into(folder, segmenter, dataset, run.root, config.data.name, val_split, progress)
        )
        if then is not None:
            then(run)

    if config.method.name is not None:
        fit_run = fit_classical
    else:
        from pixelwise.engine.fit import fit as fit_run  # Lightning: imported only to train
    run = fit_run(config, resume=resume, overwrite=overwrite, progress=progress,
                  command=command, then=finish, on_start=on_start)  # fmt: skip
    return run, evaluations[0]


def plan(
    data: DataSection,
    minutes: float,
    out: str | Path | None = None,
    run_out: str = "runs/auto",
    seed: int = 0,
    progress: bool = True,
) -> Plan:
    """Plan a run of ``minutes`` on ``data`` for this machine (see :mod:`pixelwise.planner`).

    With ``out`` (a YAML path), the plan is written there and the fingerprint beside it as
    ``fingerprint.json``, replacing only files that ``plan`` wrote (checked first). The
    planned run trains into ``run_out``.
    """
    target = None
    if out is not None:
        target = OwnedFolder(Path(out).parent, PLAN_COMMAND)
        target.check([Path(out).name, FINGERPRINT_FILE])
    planned = make_plan(data, minutes, out=run_out, seed=seed, progress=progress)
    if target is not None:
        with folder_lock(target.root):
            target.check([Path(out).name, FINGERPRINT_FILE])
            write_plan(planned, target, Path(out).name)
    return planned


def train_auto(
    data: DataSection,
    minutes: float,
    out: str,
    overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    show: Callable[[str], None] | None = None,
) -> tuple[RunDir, Evaluation, Plan]:
    """Plan a run of ``minutes`` on ``data`` and train it into ``out``: the plan
    (``plan.yaml``) and the fingerprint (``fingerprint.json``) are kept in the run folder,
    and ``show(yaml)`` sees the plan before training starts. ``overrides`` (dotted keys)
    change the planned configuration."""
    RunDir(Path(out)).check_writable(resume=False, overwrite=overwrite)
    planned = make_plan(data, minutes, out, seed, progress, planning_counts=True)
    planned = replace(planned, config=merge(planned.config, overrides or {}))
    if show is not None:
        show(plan_yaml(planned))

    def keep(run: RunDir) -> None:
        write_text_atomic(run.root / PLAN_FILE, plan_yaml(planned))
        write_text_atomic(run.root / FINGERPRINT_FILE, fingerprint_json(planned))

    run, evaluation = train(planned.config, overwrite=overwrite, progress=progress,
                            on_start=keep)  # fmt: skip
    return run, evaluation, planned


def default_eval_dir(model_path: Path, split: str) -> Path:
    """``RUN/eval-<split>`` for a run (or its ``model/``); beside a bare model folder otherwise."""
    folder = resolve_model_dir(model_path)
    if (folder.parent / "config.yaml").exists():
        return RunDir(folder.parent).eval_dir(split)
    return folder.with_name(f"{folder.name}-eval-{split}")


def evaluate_model(
    model_path: str | Path,
    data: DataSection,
    split: str,
    out: str | Path | None = None,
    progress: bool = True,
    check: bool = True,
    options: EvaluationOptions | None = None,
    oracle: bool = False,
    backend: str | None = None,
) -> Evaluation:
    """Score a saved model (or a run's model) on ``split`` of ``data``.

    Writes ``metrics.json`` and ``confusion.png`` into ``out`` (default: the run's
    ``eval-<split>``), replacing only files that ``evaluate`` wrote there before (see
    :mod:`pixelwise.ownership`); a run's folder is locked against its training while
    scores are written into it. ``check`` reads and checks every pair before scoring
    starts; ``options`` adds per-image, boundary, crop and object-level scores.

    For a classical method, ``metrics.json["mapping"]`` says how its ids became classes.
    ``oracle`` (classical methods only) remaps them one-to-one on the scored data itself
    (Hungarian): an upper bound, labelled as an oracle, by default in ``eval-<split>-oracle``.
    ``backend`` runs a network or exported graph (see :mod:`pixelwise.inference.backends`).
    """
    where = f"{split}-oracle" if oracle else split
    folder = Path(out) if out is not None else default_eval_dir(Path(model_path), where)
    refuse_model_folder(folder)
    owned = OwnedFolder(folder, "evaluate")
    run = RunDir(folder.parent)
    _check_eval_folder(owned, run)
    segmenter = Segmenter.load(model_path, backend=backend)
    dataset = load_split(data, split, check=check)
    with run.lock() if run.holds_run() else folder_lock(folder):
        _check_eval_folder(owned, run)  # again, now that no other command writes there
        return score_into(owned, segmenter, dataset, model_path, data.name, split, progress,
                          options, oracle)  # fmt: skip


def _check_eval_folder(folder: OwnedFolder, run: RunDir) -> None:
    """``evaluate`` may write its files into ``folder``: inside a run, an ``eval-*``
    folder holds only the run's own files (its layout says which, for runs of every
    version); anywhere else, the folder's manifest decides."""
    if run.holds_run() and folder.root.name.startswith("eval-"):
        foreign = [path for path in run.foreign_files() if path.parent == folder.root]
        if foreign:
            raise not_written_by(foreign, "evaluate")
        return
    folder.check(METRICS_FILES)


def score_into(
    folder: OwnedFolder,
    segmenter: Segmenter,
    dataset: SegmentationDataset,
    model_path: str | Path,
    data_name: str,
    split: str,
    progress: bool = True,
    options: EvaluationOptions | None = None,
    oracle: bool = False,
) -> Evaluation:
    """Score ``segmenter`` (loaded from ``model_path``) on ``split`` of the dataset called
    ``data_name``, and write its metrics into ``folder``, which the caller has checked and
    holds (see :func:`evaluate_model`)."""
    if oracle:
        segmenter = segmenter.with_oracle_mapping(dataset, progress)
    name = f"{data_name} {split}"
    result = evaluate(segmenter, dataset, name=name, progress=progress, options=options)
    context: dict[str, Any] = {"model": str(model_path), "data": data_name, "split": split}
    if getattr(dataset, "rois", None) is not None:
        context["scored"] = INSIDE_REGIONS
    if segmenter.method is not None:
        context["mapping"] = ORACLE_MAPPING if oracle else FITTED_MAPPING
    path = write_metrics(result, folder, **context)
    return Evaluation(result.scores, path, result.extras, context.get("scored"))


def predict_files(
    model_path: str | Path,
    inputs: Iterable[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
    backend: str | None = None,
) -> PredictReport:
    """Predict images (files and folders) into ``out``: labels, and the outputs ``options``
    asks for; checked first, batched, resumable (see :mod:`pixelwise.inference.predict`).
    ``backend`` runs a network or exported graph (see :mod:`pixelwise.inference.backends`)."""
    segmenter = Segmenter.load(model_path, backend=backend)
    fingerprint = model_fingerprint(model_path)
    return predict_images(segmenter, inputs, out, options, model=fingerprint)


def predict_files_on_ray(
    model_path: str | Path,
    inputs: Iterable[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
    backend: str | None = None,
    cluster: RayPredictOptions | None = None,
) -> PredictReport:
    """:func:`predict_files` on a Ray cluster (``pip install "pixelwise[ray]"``): the same
    checks, files, resume and bad-file rule, with reading and prediction spread over the
    cluster's workers (see :mod:`pixelwise.distributed.predict`)."""
    from pixelwise.distributed.predict import predict_on_ray

    return predict_on_ray(model_path, inputs, out, options, backend, cluster)


def export_model(
    model_path: str | Path,
    out: str | Path,
    format: str,
    opset: int = DEFAULT_OPSET,
    static_size: tuple[int, int] | None = None,
    calibrate_on: DataSection | None = None,
    calibration_images: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Export a saved model (or a run's) to the folder ``out`` as ``format``.

    With ``calibrate_on``, an INT8 ONNX graph calibrated on ``calibration_images`` images
    drawn (seeded) from that data's training split.
    """
    from pixelwise.export import Calibration, check_options
    from pixelwise.export import export_model as write_export

    source_dir = resolve_model_dir(model_path)
    int8 = calibrate_on is not None
    check_options(format, Path(out), source_dir, opset, static_size, int8)
    model, card = load_model(model_path)
    calibration = None
    if calibrate_on is not None:
        split = calibrate_on.train_split
        dataset = load_split(calibrate_on, split, check=False)
        inputs = calibration_inputs(model, card, dataset, calibration_images, seed, progress)
        source = {"data": calibrate_on.name, "split": split, "images": len(inputs), "seed": seed}
        calibration = Calibration(inputs, source)
    return write_export(model, card, out, format, source_dir, opset, static_size, calibration)


def bench(
    model_path: str | Path,
    size: tuple[int, int] = (512, 512),
    threads: int | None = None,
    repeats: int = 10,
    backends: Sequence[str] | None = None,
    exported: Sequence[str | Path] = (),
    image: np.ndarray | None = None,
    others: dict[str, Segmenter] | None = None,
) -> list[BackendTiming]:
    """Time a saved model on each backend (default: every installed one) side by side.

    ``exported`` folders join the comparison on each of those backends that their format
    runs on, and ``others`` (a row name -> a Segmenter, such as another library's twin of
    the model) as they are. The input is ``image`` or a seeded random ``size`` image;
    ``threads`` sets PyTorch's, ONNX Runtime's and OpenVINO's thread counts.
    """
    _check_bench(size, threads, repeats)
    if threads is not None:
        torch.set_num_threads(threads)
    chosen = [check_backend(name) for name in backends or installed_backends()]
    names = [REFERENCE, *(b for b in chosen if b != REFERENCE)]
    joining = {folder: _timed_backends(folder, names) for folder in exported}
    segmenters = {name: segmenter_on(model_path, name, threads) for name in names}
    for folder, runs_on in joining.items():
        for name in runs_on:
            runner, card = load_runnable(folder, name, threads)
            segmenters[f"{name} [{Path(folder).name}]"] = Segmenter(runner, card, "cpu")
    segmenters |= others or {}
    if image is None:
        channels = segmenters[REFERENCE].info.channels
        image = np.random.default_rng(0).integers(0, 256, (*size, channels), dtype=np.uint8)
    return compare_backends(segmenters, image, repeats)


def _check_bench(size: tuple[int, int], threads: int | None, repeats: int) -> None:
    """The random image's size, the thread count and the rounds of :func:`bench`, checked."""
    height, width = size
    if height < 1 or width < 1:
        raise PixelwiseError(f"--size must be two positive sides H W, got {height} {width}")
    if height * width > DEFAULT_MAX_PIXELS:
        raise PixelwiseError(
            f"--size {height} {width} is {height * width:,} pixels, above the limit of "
            f"{DEFAULT_MAX_PIXELS:,} pixels of an image read whole"
        )
    if repeats < 1:
        raise PixelwiseError(f"--repeats must be at least 1, got {repeats}")
    if threads is not None and threads < 1:
        raise PixelwiseError(f"--threads must be at least 1, got {threads}")


def _timed_backends(folder: str | Path, timed: Sequence[str]) -> list[str]:
    """The backends of ``timed`` that the exported ``folder`` runs on; a user error if none."""
    runs_on = exported_backends(folder)
    if not any(name in timed for name in runs_on):
        raise PixelwiseError(
            f"'{folder}' runs on {', '.join(runs_on)}: none of the backends timed "
            f"({', '.join(timed)})"
        )
    return [name for name in runs_on if name in timed]


def serve(models: Sequence[str], options: ServeOptions | None = None) -> None:
    """Serve saved models (``PATH`` or ``NAME=PATH``) over HTTP until interrupted: the REST
    API and the web page of :mod:`pixelwise.serve`, under ``options``' limits."""
    from pixelwise.serve import require_extra

    require_extra()
    from pixelwise.serve.app import create_app
    from pixelwise.serve.models import load_models
    from pixelwise.serve.options import ServeOptions
    from pixelwise.serve.server import run_server

    options = options or ServeOptions()
    run_server(create_app(load_models(models, options.backend), options), options)


def compare(
    sources: Sequence[str | Path],
    out: str | Path,
    overrides: dict[str, Any] | None = None,
    split: str | None = None,
    baseline: str | None = None,
    jobs: int = 1,
    overwrite: bool = False,
    dry_run: bool = False,
    executor: Executor | None = None,
    on_run: Callable[[dict[str, Any], int, int], None] | None = None,
) -> Plan | Comparison:
    """Compare a grid (``sources`` = one grid file) or trained runs (run/model folders).

    A grid's runs are trained into ``out/runs/<name>/`` as needed (finished runs are
    skipped, interrupted ones resumed), every run is scored on the same split, and
    ``out`` receives ``results.json``, ``results.csv`` and ``report.html``.
    ``overrides`` (dotted keys, e.g. ``{"train.epochs": 1}``) change every run. With
    ``dry_run`` nothing is written and the plan is returned. ``jobs`` runs that many at
    once in separate processes (unless an ``executor`` is given); ``on_run(record, done,
    total)`` is called as each run finishes.
    """
    from pixelwise.compare import LocalExecutor, plan_comparison, run_comparison

    plan = plan_comparison(sources, out, overrides, split, baseline, overwrite, progress=jobs == 1)
    if dry_run:
        return plan
    return run_comparison(plan, train, executor or LocalExecutor(jobs), on_run)

"""The workflows behind the CLI, as plain functions: train, evaluate, predict, compare."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from pixelwise.classical.training import fit_classical
from pixelwise.config import DataSection, RunConfig
from pixelwise.data.io import list_images, write_png_atomic
from pixelwise.data.registry import load_split
from pixelwise.errors import PixelwiseError
from pixelwise.inference.evaluate import EvaluationOptions, evaluate, write_metrics
from pixelwise.inference.segmenter import Segmenter
from pixelwise.metrics import SegmentationScores
from pixelwise.models.saving import resolve_model_dir
from pixelwise.report.overlay import overlay
from pixelwise.rundir import RunDir

if TYPE_CHECKING:
    from pixelwise.compare import Comparison, Executor, Plan

FITTED_MAPPING = "fitted: ids to classes by a vote on the training data"
ORACLE_MAPPING = (
    "ORACLE: ids matched one-to-one to classes on the scored data itself (Hungarian); "
    "an upper bound, not a fair score"
)


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one split, and where ``metrics.json`` went."""

    scores: SegmentationScores
    metrics_path: Path


def train(
    config: RunConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    command: str = "train",
    then: Callable[[RunDir], None] | None = None,
) -> tuple[RunDir, Evaluation]:
    """Fit as ``config`` says, then score the best model on the validation split.

    With ``config.method.name`` set, a classical method is fitted instead of a network.
    ``command`` is recorded in the run folder as the command that made it; ``then(run)``
    runs after the evaluation, while the run folder is still locked.
    """
    evaluations: list[Evaluation] = []

    def finish(run: RunDir) -> None:
        val_split = config.data.val_split  # checked by fit already
        evaluations.append(
            evaluate_model(run.root, config.data, val_split, progress=progress, check=False)
        )
        if then is not None:
            then(run)

    if config.method.name is not None:
        fit_run = fit_classical
    else:
        from pixelwise.engine.fit import fit as fit_run  # Lightning: imported only to train
    run = fit_run(
        config, resume=resume, overwrite=overwrite, progress=progress, command=command, then=finish
    )
    return run, evaluations[0]


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
) -> Evaluation:
    """Score a saved model (or a run's model) on ``split`` of ``data``.

    Writes ``metrics.json`` and ``confusion.png`` into ``out`` (default: the run's
    ``eval-<split>``). ``check`` reads and checks every pair before scoring starts;
    ``options`` adds per-image, boundary, crop and object-level scores.

    For a classical method, ``metrics.json["mapping"]`` says how its ids became classes.
    ``oracle`` (classical methods only) remaps them one-to-one on the scored data itself
    (Hungarian): an upper bound, labelled as an oracle, by default in ``eval-<split>-oracle``.
    """
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise PixelwiseError(f"--out '{out}' is a file; evaluate writes a folder there")
    segmenter = Segmenter.load(model_path)
    dataset = load_split(data, split, check=check)
    if oracle:
        segmenter = segmenter.with_oracle_mapping(dataset, progress)
    name = f"{data.name} {split}"
    result = evaluate(segmenter, dataset, name=name, progress=progress, options=options)
    where = f"{split}-oracle" if oracle else split
    folder = Path(out) if out is not None else default_eval_dir(Path(model_path), where)
    context: dict[str, Any] = {"model": str(model_path), "data": data.name, "split": split}
    if segmenter.method is not None:
        context["mapping"] = ORACLE_MAPPING if oracle else FITTED_MAPPING
    return Evaluation(result.scores, write_metrics(result, folder, **context))


def _unique_stems(files: Sequence[Path]) -> None:
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise PixelwiseError(
                f"inputs '{seen[file.stem]}' and '{file}' would both write '{file.stem}.png'"
            )
        seen[file.stem] = file


def _quantizer(segmenter: Segmenter, model_path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """The k-means method's ``quantize``; any other model is a user error."""
    quantize = getattr(segmenter.method, "quantize", None)
    if quantize is None:
        what = segmenter.method.name if segmenter.method is not None else "a network"
        raise PixelwiseError(f"--save-quantized needs a kmeans model; '{model_path}' is {what}")
    return quantize


def predict_files(
    model_path: str | Path,
    inputs: Iterable[str | Path],
    out: str | Path,
    with_overlay: bool = False,
    progress: bool = True,
    save_quantized: bool = False,
) -> list[Path]:
    """Write ``<stem>.png`` per image: uint8 class indices at the input's H×W.

    With ``with_overlay`` also ``<stem>_overlay.png``; with ``save_quantized`` (k-means
    only) also ``<stem>_quantized.png``, each pixel in its cluster's colour. Returns the
    label PNG paths.
    """
    segmenter = Segmenter.load(model_path)
    quantize = _quantizer(segmenter, model_path) if save_quantized else None
    files = list_images(inputs)
    _unique_stems(files)
    colours = segmenter.info.colours
    written = []
    for file in tqdm(files, desc="predicting", disable=not progress):
        image = segmenter.to_array(file)
        labels = segmenter.predict(image)
        target = Path(out) / f"{file.stem}.png"
        write_png_atomic(target, labels, palette=colours)
        written.append(target)
        if with_overlay:
            picture = overlay(image, labels, colours)
            write_png_atomic(Path(out) / f"{file.stem}_overlay.png", picture)
        if quantize is not None:
            write_png_atomic(Path(out) / f"{file.stem}_quantized.png", quantize(image))
    return written


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
    return run_comparison(plan, executor or LocalExecutor(jobs), on_run)

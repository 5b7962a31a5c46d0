"""The workflows behind the CLI, as plain functions: train, evaluate, predict, serve."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelwise.classical.training import fit_classical
from pixelwise.config import DataSection, RunConfig
from pixelwise.engine.fit import fit, load_split
from pixelwise.inference.evaluate import EvaluationOptions, evaluate, write_metrics
from pixelwise.inference.predict import (
    PredictOptions,
    PredictReport,
    model_fingerprint,
    predict_images,
)
from pixelwise.inference.segmenter import Segmenter
from pixelwise.metrics import SegmentationScores
from pixelwise.models.saving import resolve_model_dir
from pixelwise.rundir import RunDir

if TYPE_CHECKING:
    from pixelwise.serve.options import ServeOptions

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
    config: RunConfig, resume: bool = False, overwrite: bool = False, progress: bool = True
) -> tuple[RunDir, Evaluation]:
    """Fit as ``config`` says, then score the best model on the validation split.

    With ``config.method.name`` set, a classical method is fitted instead of a network.
    """
    fit_run = fit_classical if config.method.name is not None else fit
    run = fit_run(config, resume=resume, overwrite=overwrite, progress=progress)
    val_split = config.data.val_split  # checked by fit already
    evaluation = evaluate_model(run.root, config.data, val_split, progress=progress, check=False)
    return run, evaluation


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


def predict_files(
    model_path: str | Path,
    inputs: Iterable[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
) -> PredictReport:
    """Predict images (files and folders) into ``out``: labels, and the outputs ``options``
    asks for; checked first, batched, resumable (see :mod:`pixelwise.inference.predict`)."""
    segmenter = Segmenter.load(model_path)
    fingerprint = model_fingerprint(model_path)
    return predict_images(segmenter, inputs, out, options, model=fingerprint)


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

"""Predicting many images on this machine: every check first, then batched, prefetched,
resumable work.

Order of work (the planning is :mod:`pixelwise.inference.plan`'s, shared with the Ray
engine; the writing :mod:`pixelwise.inference.writer`'s):

1. List the INPUTs and read every file's header (fast). A file that cannot be read, or
   breaks a reading rule, stops the run before anything is written (exit 2), unless
   ``skip_bad``: then it goes to ``OUT/errors.jsonl`` with its reason.
2. Decide per image: whole, or tiled (``tile="auto"``: when it has more pixels than the
   pixel limit, or its whole-image estimate exceeds ``max_memory``).
3. Check the outputs: none may be an input, none may land in an input folder (a later run
   would read it as an input), and an existing file is replaced only when pixelwise wrote
   it (:mod:`pixelwise.inference.resume`).
4. Skip images whose outputs are complete for the same input and settings (``force``
   redoes them).
5. Whole images are decoded ahead by a ``DataLoader`` with workers and run in batches of
   one size; tiled images run one by one with bounded memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from pixelwise.data.reader import ReadOptions
from pixelwise.errors import PixelwiseError
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.outputs import Receipt
from pixelwise.inference.plan import (
    ImagePlan,
    Inspection,
    RunPlan,
    RunSetup,
    inspect_input,
    plan_run,
    prepare,
    whole_batches,
)
from pixelwise.inference.segmenter import Segmenter
from pixelwise.inference.writer import PredictionWriter, Written, decode_plan, write_run_files

logger = logging.getLogger(__name__)


@dataclass
class PredictReport:
    """What a run did: label files written, images skipped as complete, bad inputs."""

    written: list[Path] = field(default_factory=list)
    skipped: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)
    summary_path: Path | None = None
    errors_path: Path | None = None


class RunProgress:
    """A run's results so far and its progress bar (images/s, megapixels/s and
    ``detail``); :meth:`finish` writes the run files and returns the report."""

    def __init__(self, run: RunPlan, options: PredictOptions, detail: str = "") -> None:
        self.options, self.detail = options, detail
        self.report = PredictReport(skipped=len(run.done), bad=list(run.bad))
        self.receipts: dict[Path, Receipt] = dict(run.done)
        self.seconds: dict[Path, float] = {}
        self.bar = tqdm(
            total=len(run.todo), desc="predicting", unit="img", disable=not options.progress
        )
        self.pixels = 0
        self.started = time.perf_counter()

    def bad(self, path: Path, reason: str) -> None:
        """An image that failed while decoding or predicting: the run stops (a user
        error) unless ``skip_bad``, which logs it and goes on."""
        if not self.options.skip_bad:
            raise PixelwiseError(reason)
        logger.warning("skipping '%s': %s", path, reason)
        self.report.bad.append({"input": str(path), "reason": reason})
        self.bar.update(1)

    def done(self, plan: ImagePlan, written: Written) -> None:
        self.receipts[plan.path] = written.receipt
        self.seconds[plan.path] = written.seconds
        self.report.written.append(plan.paths["labels"])
        self.pixels += plan.header.pixels
        elapsed = time.perf_counter() - self.started
        rates = [
            f"{self.pixels / elapsed / 1e6:.2f} Mpx/s",
            *([self.detail] if self.detail else []),
        ]
        self.bar.set_postfix_str(", ".join(rates), refresh=False)
        self.bar.update(1)

    def finish(self, files: Sequence[Path], out: Path) -> PredictReport:
        """Close the bar; write ``summary.jsonl`` and ``errors.jsonl`` as asked."""
        self.bar.close()
        paths = write_run_files(
            out, self.options, files, self.receipts, self.seconds, self.report.bad
        )
        self.report.summary_path, self.report.errors_path = paths
        return self.report


class _Decoded(Dataset):
    """Item ``i``: ``(i, (H, W, C) uint8 pixels or None, error message or None)``."""

    def __init__(self, plans: Sequence[ImagePlan], channels: int, read: ReadOptions) -> None:
        self.plans, self.channels, self.read = plans, channels, read

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            return index, decode_plan(self.plans[index], self.channels, self.read), None
        except PixelwiseError as error:
            return index, None, str(error)


def _predict_whole(
    writer: PredictionWriter, progress: RunProgress, plans: Sequence[ImagePlan]
) -> None:
    """Whole images: decoded ahead by a DataLoader, predicted in batches of one size."""
    if not plans:
        return
    segmenter, options = writer.segmenter, writer.options
    loader = DataLoader(
        _Decoded(plans, segmenter.info.channels, writer.read),
        batch_sampler=whole_batches(segmenter, plans, options),
        collate_fn=list,
        num_workers=options.workers,
    )
    for batch in loader:
        decoded = []
        for index, pixels, error in batch:
            if error is not None:
                progress.bad(plans[index].path, error)
            else:
                decoded.append((plans[index], pixels))
        if decoded:
            for (plan, _), written in zip(decoded, writer.whole(decoded), strict=True):
                progress.done(plan, written)


def _predict_tiled(writer: PredictionWriter, progress: RunProgress, plan: ImagePlan) -> None:
    try:
        written = writer.tiled(plan)
    except PixelwiseError as error:
        progress.bad(plan.path, str(error))
        return
    progress.done(plan, written)


def inspect_all(
    files: Sequence[Path], setup: RunSetup, options: PredictOptions
) -> list[Inspection]:
    """Every input's inspection, one after another."""
    bar = tqdm(files, desc="checking headers", disable=not options.progress, leave=False)
    return [inspect_input(file, setup) for file in bar]


def predict_images(
    segmenter: Segmenter,
    inputs: Iterable[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
    model: str = "",
) -> PredictReport:
    """Predict every image that ``inputs`` name (files, folders, globs, manifests: see
    :mod:`pixelwise.inference.inputs`) into ``out``.

    ``model`` identifies the model in the settings fingerprint (see
    :func:`~pixelwise.inference.plan.model_fingerprint`). Returns what was written,
    skipped and refused; raises :class:`PixelwiseError` before writing anything when a
    check fails.
    """
    options = options or PredictOptions()
    listed, setup = prepare(segmenter, inputs, out, options, model)
    run = plan_run(segmenter, listed, inspect_all(listed.files, setup, options), setup, options)
    writer = PredictionWriter(segmenter, setup.out, options, setup.settings, setup.read)
    progress = RunProgress(run, options)
    try:
        with segmenter.own_threads():
            _predict_whole(writer, progress, [plan for plan in run.todo if not plan.tiled])
            for plan in run.todo:
                if plan.tiled:
                    _predict_tiled(writer, progress, plan)
    finally:
        report = progress.finish(listed.files, setup.out)
    return report


def describe(report: PredictReport) -> list[str]:
    """Lines that say what a run did, for the CLI."""
    lines = [f"predicted {len(report.written)} image(s)"]
    if report.skipped:
        lines.append(
            f"skipped {report.skipped} image(s) whose outputs were complete (--force redoes them)"
        )
    if report.bad:
        lines.append(f"{len(report.bad)} bad input(s) logged to {report.errors_path}")
    if report.summary_path:
        lines.append(f"summary: {report.summary_path}")
    return lines

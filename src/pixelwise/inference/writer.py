"""Predicting planned images into their files, and writing a run's summary and error log.

:class:`PredictionWriter` does the work of a run wherever it runs: a batch of decoded
whole images, or one tiled image, predicted and written atomically under ``OUT``, each
label file with its receipt (:mod:`pixelwise.inference.outputs`). Local ``predict`` and
the Ray engine both call it, so their files are the same. :func:`write_run_files` writes
``summary.jsonl`` and ``errors.jsonl`` in input order, recorded in the folder's manifest
(:mod:`pixelwise.ownership`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pixelwise.data.io import read_mask
from pixelwise.data.reader import ReadOptions, decode
from pixelwise.inference.one_image import put_tiled, put_whole, region_source
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.outputs import ImageOutputs, Receipt
from pixelwise.inference.segmenter import Segmenter
from pixelwise.ownership import OwnedFolder

if TYPE_CHECKING:
    from pixelwise.inference.plan import ImagePlan

SUMMARY_FILE = "summary.jsonl"
ERRORS_FILE = "errors.jsonl"
PREDICT = "predict"
"""The command that writes prediction folders, as their manifests record it."""


@dataclass(frozen=True)
class Written:
    """One image predicted and written: its receipt, and the seconds its prediction and
    writing took (a batch's forward pass shared among its images; decoding not counted)."""

    receipt: Receipt
    seconds: float


def decode_plan(plan: ImagePlan, channels: int, read: ReadOptions) -> np.ndarray:
    """The planned whole image's pixels ``(H, W, channels)`` uint8; raises
    :class:`PixelwiseError` when its data cannot be decoded."""
    return decode(plan.header, channels, read.scaling)


class PredictionWriter:
    """Predicts planned images with ``segmenter`` and writes their outputs under ``out``;
    ``settings`` is the run's settings fingerprint, ``read`` its reading options."""

    def __init__(
        self,
        segmenter: Segmenter,
        out: Path,
        options: PredictOptions,
        settings: str,
        read: ReadOptions,
    ) -> None:
        self.segmenter, self.out, self.options = segmenter, out, options
        self.settings, self.read = settings, read

    def _outputs(self, plan: ImagePlan) -> ImageOutputs:
        header = plan.header
        outputs = ImageOutputs(
            plan.paths, header.height, header.width, self.segmenter.info, plan.as_tiff
        )
        if plan.region is not None:
            region = read_mask(plan.region) != 0
            outputs.restrict(region, self.options.region_fill(self.segmenter.info.ignore_index))
        return outputs

    def _finish(self, plan: ImagePlan, outputs: ImageOutputs) -> Receipt:
        summary = {
            "input": str(plan.path),
            "labels": plan.paths["labels"].relative_to(self.out).as_posix(),
            "height": plan.header.height,
            "width": plan.header.width,
            "tiled": plan.tiled,
            "class_fraction": outputs.class_fractions(),
        }
        receipt = Receipt.for_input(plan.path, self.settings)
        receipt = Receipt(**{**asdict(receipt), "summary": summary})
        return outputs.finish(receipt, self.out)

    def whole(self, decoded: Sequence[tuple[ImagePlan, np.ndarray]]) -> list[Written]:
        """Predict whole images of one size in one forward pass (``pixels (H, W, C)``
        uint8 each) and write each one's outputs."""
        started = time.perf_counter()
        segmenter = self.segmenter
        if segmenter.is_network:
            images = np.stack([pixels for _, pixels in decoded])
            scores = segmenter.batch_probabilities(images, self.options.tta).cpu()
        shared = (time.perf_counter() - started) / len(decoded)
        quantize = self.options.outputs.quantized
        written = []
        for index, (plan, pixels) in enumerate(decoded):
            started = time.perf_counter()
            with self._outputs(plan) as outputs:
                probabilities = scores[index] if segmenter.is_network else None
                put_whole(segmenter, outputs, pixels, probabilities, quantize)
                receipt = self._finish(plan, outputs)
            written.append(Written(receipt, shared + time.perf_counter() - started))
        return written

    def tiled(self, plan: ImagePlan) -> Written:
        """Predict one image tile by tile (read by region where it can be) and write its
        outputs as rows arrive; raises :class:`PixelwiseError` when it cannot be read."""
        started = time.perf_counter()
        source = region_source(plan.header, self.segmenter.info.channels, self.read.scaling)
        try:
            with self._outputs(plan) as outputs:
                options = self.options
                put_tiled(self.segmenter, outputs, source, options.tiling, options.tta)
                receipt = self._finish(plan, outputs)
        finally:
            source.close()
        return Written(receipt, time.perf_counter() - started)


def summary_line(receipt: Receipt, seconds: float | None) -> dict[str, Any]:
    """An image's ``summary.jsonl`` line: its receipt's summary, and the seconds this run
    spent on it (``None`` when it was skipped as complete)."""
    return {**receipt.summary, "seconds": None if seconds is None else round(seconds, 4)}


def write_run_files(
    out: Path,
    options: PredictOptions,
    files: Sequence[Path],
    receipts: Mapping[Path, Receipt],
    seconds: Mapping[Path, float],
    bad: Sequence[dict[str, str]],
) -> tuple[Path | None, Path | None]:
    """``summary.jsonl`` (``options.summary``: every complete image) and ``errors.jsonl``
    (``options.skip_bad``: every bad input), both in the order of the input ``files``;
    returns their paths (``None`` for one not asked for)."""
    summary_path = errors_path = None
    folder = OwnedFolder(out, PREDICT)
    if options.summary:
        lines = [summary_line(receipts[f], seconds.get(f)) for f in files if f in receipts]
        summary_path = folder.write_text(SUMMARY_FILE, _json_lines(lines))
    if options.skip_bad:
        order = {str(file): index for index, file in enumerate(files)}
        ordered = sorted(bad, key=lambda record: order.get(record["input"], len(order)))
        errors_path = folder.write_text(ERRORS_FILE, _json_lines(ordered))
    return summary_path, errors_path


def run_files(options: PredictOptions) -> list[str]:
    """The names of the run files that ``options`` ask for (see :func:`write_run_files`)."""
    wanted = ((SUMMARY_FILE, options.summary), (ERRORS_FILE, options.skip_bad))
    return [name for name, asked in wanted if asked]


def _json_lines(records: Sequence[dict[str, Any]]) -> str:
    return "".join(f"{json.dumps(record)}\n" for record in records)

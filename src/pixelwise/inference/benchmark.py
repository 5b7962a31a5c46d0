"""Backends side by side in one process: interleaved timings, ratios to eager, parity.

Every backend's Segmenter predicts the same image, pre- and post-processing included.
Each round gives every backend a block of calls back to back, as when it predicts a
folder: one untimed call (the previous backend's threads go quiet, this one's wake up),
then :data:`BLOCK` timed calls. Rounds alternate the order of the backends, so that the
machine's load drifts over all of them alike; a backend's time in a round is the median
of its block, and its ratio to eager is the median over rounds of the ratio within a
round. Absolute times on a shared machine are noisy; ratios are not.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.inference.backends import export_runner
from pixelwise.inference.parity import ATOL, MIN_AGREEMENT, RTOL, Parity, compare_logits
from pixelwise.inference.segmenter import Segmenter
from pixelwise.models.saving import load_model

REFERENCE = "torch"
BLOCK = 5  # timed calls per backend and round


@dataclass(frozen=True)
class BackendTiming:
    """One backend's row: median milliseconds per image, median ratio to the reference
    backend's time in the same round, and its logits' parity with the reference's."""

    backend: str
    median_ms: float
    ratio: float
    parity: Parity

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "median_ms": self.median_ms,
            "ratio_to_eager": self.ratio,
            "max_abs_diff": self.parity.max_abs_diff,
            "argmax_agreement": self.parity.agreement,
            "within_tolerance": self.parity.close,
        }


def segmenter_on(model_path: str | Path, backend: str, threads: int | None = None) -> Segmenter:
    """A CPU Segmenter of the saved model at ``model_path`` on ``backend``, with its own
    copy of the model (channels-last converts weights in place). ``threads`` limits
    ONNX Runtime's and OpenVINO's threads."""
    model, card = load_model(model_path)
    if backend.startswith("torch"):
        return Segmenter(model, card, "cpu", backend)
    return Segmenter(export_runner(backend, model, card.info.channels, threads), card, "cpu")


def block_seconds(segmenter: Segmenter, image: np.ndarray, calls: int = BLOCK) -> float:
    """The median seconds of ``calls`` back-to-back ``predict(image)`` calls, after one
    untimed call."""
    segmenter.predict(image)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        segmenter.predict(image)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_segmenters(
    segmenters: dict[str, Segmenter], image: np.ndarray, repeats: int
) -> dict[str, list[float]]:
    """Seconds per ``predict(image)`` of every segmenter, one value per round (the median
    of its block), ``repeats`` rounds whose order reverses each round."""
    order = list(segmenters)
    times: dict[str, list[float]] = {name: [] for name in order}
    for _ in range(repeats):
        for name in order:
            times[name].append(block_seconds(segmenters[name], image))
        order.reverse()
    return times


def compare_backends(
    segmenters: dict[str, Segmenter], image: np.ndarray, repeats: int = 10
) -> list[BackendTiming]:
    """Time and check every segmenter against ``segmenters["torch"]`` (eager): the logits'
    differences, and the agreement of the labels that ``predict`` (the timed call) gives
    (:meth:`Segmenter.labels`)."""
    reference = segmenters[REFERENCE].logits(image)
    reference_labels = segmenters[REFERENCE].labels(image)
    times = time_segmenters(segmenters, image, repeats)
    rows = []
    for name, segmenter in segmenters.items():
        ratios = [t / e for t, e in zip(times[name], times[REFERENCE], strict=True)]
        labels = (reference_labels, segmenter.labels(image))
        parity = compare_logits(reference, segmenter.logits(image), labels)
        median_ms = 1000 * statistics.median(times[name])
        rows.append(BackendTiming(name, median_ms, statistics.median(ratios), parity))
    return rows


OUTSIDE_TOLERANCE = (
    f"* outside the float parity tolerances (rtol {RTOL:g}, atol {ATOL:g}, argmax agreement "
    f"{100 * MIN_AGREEMENT:g}%):\n  expected of the bfloat16 backends and of INT8 graphs, "
    "a fault in any other"
)


def timing_table(rows: list[BackendTiming]) -> str:
    """A plain-text table: backend | median ms | ratio to eager | max abs diff | agreement,
    a ``*`` on rows outside the float parity tolerances and a footnote saying so."""
    header = ("backend", "median ms", "ratio to eager", "max abs diff", "argmax agreement")
    lines = [
        (
            row.backend,
            f"{row.median_ms:.1f}",
            f"{row.ratio:.2f}x",
            f"{row.parity.max_abs_diff:.1e}",
            f"{100 * row.parity.agreement:.3f}%" + ("" if row.parity.close else " *"),
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in (header, *lines)) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)

    def render(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    notes = [] if all(row.parity.close for row in rows) else [OUTSIDE_TOLERANCE]
    return "\n".join([render(header), rule, *map(render, lines), *notes])

"""A comparison's results: runs aggregated into configurations, with intervals, as data.

:func:`summarize` turns the runs' records and per-image scores into the document that
``results.json`` holds and the report shows. For each configuration (its runs are its
seeds):

- each metric of :data:`~pixelwise.compare.statistics.METRICS` as the mean over seeds,
  their standard deviation (with two seeds or more), the percentile bootstrap interval
  over images of that mean, and the paired bootstrap difference to the baseline with
  its interval (the same resamples of the same images for every run);
- per-class IoU (mean over seeds), cost (parameters, MACs, latency) and training time.

Axes of a grid also get two-way tables of mIoU: for each pair of axes, the mean over
the other axes in each cell, and each value's main effect (its row or column mean).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from pixelwise.compare.grid import Scoring
from pixelwise.compare.scoring import ImageScores
from pixelwise.compare.statistics import (
    METRICS,
    interval,
    pareto_front,
    resample_weights,
    run_scores,
    seed_mean,
)
from pixelwise.errors import PixelwiseError

COST_KEYS = ("parameters", "macs", "latency_ms")


def check_same_images(scores: dict[str, ImageScores]) -> tuple[str, ...]:
    """The image names every run was scored on, which must be the same, in the same order."""
    stems: tuple[str, ...] | None = None
    first = ""
    for name, image_scores in scores.items():
        if stems is None:
            stems, first = image_scores.stems, name
        elif image_scores.stems != stems:
            raise PixelwiseError(
                f"runs {first!r} and {name!r} were scored on different images; score every "
                "run on the same split"
            )
    return stems or ()


def _mean(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _plain(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class _Resampled:
    """Each successful run's scores: on all images (``point``) and on every resample."""

    def __init__(self, scores: dict[str, ImageScores], scoring: Scoring) -> None:
        num_images = len(check_same_images(scores))
        weights = resample_weights(num_images, scoring.bootstrap, scoring.bootstrap_seed)
        ones = np.ones((1, num_images), np.int64)
        self.point = {n: run_scores(s.matrices, s.boundary, ones) for n, s in scores.items()}
        self.resampled = {n: run_scores(s.matrices, s.boundary, weights) for n, s in scores.items()}
        self.confidence = scoring.confidence

    def estimate(self, runs: list[str], metric: str) -> tuple[float, np.ndarray]:
        """The seed mean on all images and on each resample."""
        value = float(np.mean([self.point[name][metric][0] for name in runs]))
        return value, seed_mean([self.resampled[name][metric] for name in runs])

    def metric(self, runs: list[str], baseline: list[str], metric: str) -> dict[str, Any]:
        values = [float(self.point[name][metric][0]) for name in runs]
        value, resampled = self.estimate(runs, metric)
        summary: dict[str, Any] = {
            "mean": _plain(value),
            "std": _plain(float(np.std(values, ddof=1))) if len(values) > 1 else None,
            "per_seed": [_plain(v) for v in values],
            "ci": interval(value, resampled, self.confidence).to_dict(),
            "difference": None,
        }
        if baseline:
            base_value, base_resampled = self.estimate(baseline, metric)
            difference = interval(value - base_value, resampled - base_resampled, self.confidence)
            summary["difference"] = {
                **difference.to_dict(),
                "beyond_noise": bool(difference.excludes_zero()),
            }
        return summary

    def class_iou(self, runs: list[str], classes: Sequence[str]) -> dict[str, float | None]:
        iou = np.mean([self.point[name]["iou"][0] for name in runs], axis=0)
        return {name: _plain(value) for name, value in zip(classes, iou, strict=True)}


def _configuration(
    name: str,
    records: list[dict[str, Any]],
    resampled: _Resampled | None,
    baseline: list[str],
    classes: Sequence[str],
) -> dict[str, Any]:
    done = [r["name"] for r in records if r.get("status") == "done"]
    document: dict[str, Any] = {
        "name": name,
        "settings": records[0]["settings"],
        "kind": records[0]["kind"],
        "runs": [r["name"] for r in records],
        "seeds": [r["seed"] for r in records],
        "failed": [r["name"] for r in records if r.get("status") != "done"],
        "status": "done" if done else "failed",
        "metrics": None,
        "class_iou": None,
        "cost": {key: _mean([r.get("cost", {}).get(key) for r in records]) for key in COST_KEYS},
        "training_seconds": _mean([r.get("training_seconds") for r in records]),
        "epochs": _mean([r.get("epochs") for r in records]),
    }
    if done and resampled is not None:
        base = [] if set(baseline) == set(done) else baseline
        document["metrics"] = {m: resampled.metric(done, base, m) for m in METRICS}
        document["class_iou"] = resampled.class_iou(done, classes)
    return document


def two_way_tables(
    configurations: list[dict[str, Any]], axes: Sequence[str]
) -> list[dict[str, Any]]:
    """For each pair of axes with two values or more: mean mIoU per cell (over the other
    axes) and each value's main effect, the mean of its row or column of cells."""
    tables = []
    scored = [c for c in configurations if c["metrics"] and c["kind"] != "classical"]
    for rows, columns in itertools.combinations(axes, 2):
        row_values = list(dict.fromkeys(c["settings"][rows] for c in scored))
        column_values = list(dict.fromkeys(c["settings"][columns] for c in scored))
        if len(row_values) < 2 or len(column_values) < 2:
            continue
        cells = [
            [
                _mean(
                    [
                        c["metrics"]["miou"]["mean"]
                        for c in scored
                        if c["settings"][rows] == r and c["settings"][columns] == k
                    ]
                )
                for k in column_values
            ]
            for r in row_values
        ]
        tables.append(
            {
                "rows": rows,
                "columns": columns,
                "row_values": row_values,
                "column_values": column_values,
                "cells": cells,
                "row_means": [_mean(row) for row in cells],
                "column_means": [_mean(list(column)) for column in zip(*cells, strict=True)],
                "complete": all(value is not None for row in cells for value in row),
            }
        )
    return tables


def mark_pareto(configurations: list[dict[str, Any]]) -> None:
    """Set ``pareto`` (``latency``, ``parameters``): whether each scored configuration is
    on the front of mIoU against that cost."""
    for cost, key in (("latency", "latency_ms"), ("parameters", "parameters")):
        points = [c for c in configurations if c["metrics"] and c["cost"][key] is not None]
        front = pareto_front(
            [c["cost"][key] for c in points], [c["metrics"]["miou"]["mean"] for c in points]
        )
        for configuration in configurations:
            configuration.setdefault("pareto", {})[cost] = False
        for configuration, on_front in zip(points, front, strict=True):
            configuration["pareto"][cost] = on_front


def summarize(
    records: list[dict[str, Any]],
    scores: dict[str, ImageScores],
    order: Sequence[str],
    baseline: str,
    axes: Sequence[str],
    scoring: Scoring,
) -> dict[str, Any]:
    """The results document: ``configurations`` (in ``order``), ``runs`` (the records),
    ``two_way`` tables, ``classes``, ``stems`` and the ``baseline``."""
    resampled = _Resampled(scores, scoring) if scores else None
    classes = next(iter(scores.values())).class_names if scores else ()
    by_configuration: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
    for record in records:
        by_configuration[record["configuration"]].append(record)
    base_runs = [r["name"] for r in by_configuration.get(baseline, []) if r.get("status") == "done"]
    configurations = [
        _configuration(name, by_configuration[name], resampled, base_runs, classes)
        for name in order
        if by_configuration[name]
    ]
    mark_pareto(configurations)
    return {
        "baseline": baseline,
        "baseline_scored": bool(base_runs),
        "classes": list(classes),
        "stems": list(check_same_images(scores)) if scores else [],
        "configurations": configurations,
        "two_way": two_way_tables(configurations, axes),
        "runs": records,
    }


CSV_METRIC_COLUMNS = (
    "mean",
    "std",
    "low",
    "high",
    "difference",
    "difference_low",
    "difference_high",
)


def results_csv(document: dict[str, Any]) -> str:
    """One row per configuration: settings, status, each metric with its interval and
    difference to the baseline, cost, training time and per-class IoU."""
    configurations = document["configurations"]
    setting_keys = list(dict.fromkeys(k for c in configurations for k in c["settings"]))
    header = ["configuration", *setting_keys, "status", "seeds"]
    header += [f"{m}_{column}" for m in METRICS for column in CSV_METRIC_COLUMNS]
    header += [*COST_KEYS, "training_seconds", "epochs"]
    header += [f"iou_{name}" for name in document["classes"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for c in configurations:
        row: list[Any] = [c["name"], *(c["settings"].get(k, "") for k in setting_keys)]
        row += [c["status"], len(c["seeds"])]
        for metric in METRICS:
            row += _metric_cells(c["metrics"][metric] if c["metrics"] else None)
        row += [c["cost"][key] for key in COST_KEYS] + [c["training_seconds"], c["epochs"]]
        row += [(c["class_iou"] or {}).get(name) for name in document["classes"]]
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def _metric_cells(summary: dict[str, Any] | None) -> list[Any]:
    if summary is None:
        return [None] * len(CSV_METRIC_COLUMNS)
    difference = summary["difference"] or {}
    return [
        summary["mean"],
        summary["std"],
        summary["ci"]["low"],
        summary["ci"]["high"],
        difference.get("value"),
        difference.get("low"),
        difference.get("high"),
    ]


def text_summary(document: dict[str, Any]) -> str:
    """The summary for the terminal: each configuration's mIoU, interval and difference."""
    rows = [("configuration", "mIoU", "interval", "Δ vs baseline", "interval")]
    for c in document["configurations"]:
        if not c["metrics"]:
            rows.append((c["name"], "failed", "", "", ""))
            continue
        miou = c["metrics"]["miou"]
        difference = miou["difference"]
        rows.append(
            (
                c["name"],
                _text(miou["mean"]),
                f"[{_text(miou['ci']['low'])}, {_text(miou['ci']['high'])}]",
                "baseline" if difference is None else _text(difference["value"], "+"),
                ""
                if difference is None
                else f"[{_text(difference['low'], '+')}, {_text(difference['high'], '+')}]",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _text(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign}.3f}"

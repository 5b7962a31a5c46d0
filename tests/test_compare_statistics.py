"""Bootstrap scores of resampled images, paired differences, Pareto fronts, two-way tables.

The references are independent: pixelwise's streaming metrics fed with the resampled
images themselves (each drawn image repeated as often as it was drawn).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelwise.compare.grid import Scoring
from pixelwise.compare.results import results_csv, summarize, two_way_tables
from pixelwise.compare.scoring import ImageScores
from pixelwise.compare.statistics import (
    boundary_scores,
    interval,
    pareto_front,
    pooled_scores,
    resample_weights,
)
from pixelwise.metrics import BoundaryF1, ConfusionMatrix

CLASSES = 4
IGNORE = 255


def random_images(seed: int, count: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and targets ``(count, 12, 16)``: blocky regions, some pixels ignored."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, CLASSES, (count, 3, 4)).repeat(4, axis=1).repeat(4, axis=2)
    prediction = np.where(
        rng.random(target.shape) < 0.7, target, rng.integers(0, CLASSES, target.shape)
    )
    target[:, 0, :3] = IGNORE
    return prediction, target


def per_image(prediction: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image confusion matrices (by ``np.bincount``) and boundary F1 rows."""
    matrices, rows = [], []
    contour = BoundaryF1(CLASSES, IGNORE, 1.0)
    for pred, true in zip(prediction, target, strict=True):
        valid = true != IGNORE
        counts = np.bincount(true[valid] * CLASSES + pred[valid], minlength=CLASSES * CLASSES)
        matrices.append(counts.reshape(CLASSES, CLASSES))
        contour.reset()
        contour.update(torch.as_tensor(pred)[None], torch.as_tensor(true)[None])
        rows.append(contour.compute().per_class)
    return np.stack(matrices), np.array(rows, dtype=float)


def reference(prediction: np.ndarray, target: np.ndarray, drawn: list[int]) -> tuple:
    """pixelwise's own streaming scores over the drawn images (repeats included)."""
    confusion = ConfusionMatrix(CLASSES, IGNORE)
    contour = BoundaryF1(CLASSES, IGNORE, 1.0)
    pred, true = torch.as_tensor(prediction[drawn]), torch.as_tensor(target[drawn])
    for accumulator in (confusion, contour):
        accumulator.update(pred, true)
    return confusion.compute(), contour.compute()


def test_resample_weights_count_draws_reproducibly() -> None:
    weights = resample_weights(9, 500, seed=4)
    assert weights.shape == (500, 9)
    assert (weights.sum(axis=1) == 9).all()
    assert np.array_equal(weights, resample_weights(9, 500, seed=4))
    assert not np.array_equal(weights, resample_weights(9, 500, seed=5))
    assert abs(weights.mean() - 1.0) < 1e-12
    assert 0.25 < (weights == 0).mean() < 0.5  # (8/9)^9 = 0.35 of the images are left out


def test_scores_of_all_images_equal_the_streaming_metrics() -> None:
    prediction, target = random_images(0)
    matrices, boundary = per_image(prediction, target)
    ones = np.ones((1, len(matrices)), np.int64)
    pooled, bf = pooled_scores(matrices, ones), boundary_scores(boundary, ones)
    scores, contour = reference(prediction, target, list(range(len(matrices))))
    assert pooled["miou"][0] == pytest.approx(scores.miou, abs=1e-12)
    assert pooled["pixel_accuracy"][0] == pytest.approx(scores.pixel_accuracy, abs=1e-12)
    assert pooled["mean_accuracy"][0] == pytest.approx(scores.mean_accuracy, abs=1e-12)
    assert np.allclose(pooled["iou"][0], scores.iou)
    assert bf[0] == pytest.approx(contour.mean_bf, abs=1e-12)


def test_scores_of_a_resample_equal_the_metrics_of_the_drawn_images() -> None:
    prediction, target = random_images(1)
    matrices, boundary = per_image(prediction, target)
    weights = resample_weights(len(matrices), 5, seed=0)
    pooled, bf = pooled_scores(matrices, weights), boundary_scores(boundary, weights)
    for row in range(5):
        drawn = [i for i, times in enumerate(weights[row]) for _ in range(times)]
        scores, contour = reference(prediction, target, drawn)
        assert pooled["miou"][row] == pytest.approx(scores.miou, abs=1e-12)
        assert pooled["mean_accuracy"][row] == pytest.approx(scores.mean_accuracy, abs=1e-12)
        assert bf[row] == pytest.approx(contour.mean_bf, abs=1e-12)


def test_a_class_missing_from_a_resample_leaves_the_means() -> None:
    matrices = np.zeros((2, 3, 3), np.int64)
    matrices[0] = [[5, 1, 0], [0, 4, 0], [0, 0, 0]]  # class 2 absent from image 0
    matrices[1] = [[0, 0, 0], [0, 0, 0], [1, 0, 3]]
    only_first = pooled_scores(matrices, np.array([[2, 0]]))
    assert only_first["miou"][0] == pytest.approx((5 / 6 + 4 / 5) / 2)
    assert math.isnan(only_first["iou"][0, 2])


def test_interval_is_the_central_percentile_range() -> None:
    found = interval(0.5, np.arange(1001.0), 0.95)
    assert found.value == 0.5
    assert (found.low, found.high) == (pytest.approx(25.0), pytest.approx(975.0))
    assert found.excludes_zero()
    assert not interval(0.0, np.arange(-500.0, 501.0), 0.95).excludes_zero()
    assert interval(1.0, np.array([0.2, 0.3, np.nan, 0.4]), 0.5).low == pytest.approx(0.25)
    assert math.isnan(interval(0.0, np.array([np.nan]), 0.95).low)


def scores_of(matrices: np.ndarray) -> ImageScores:
    count, classes = len(matrices), matrices.shape[1]
    return ImageScores(
        tuple(f"img{i}" for i in range(count)),
        matrices,
        np.full((count, classes), 0.5),
        tuple(f"c{i}" for i in range(classes)),
    )


def record(name: str, configuration: str, seed: int = 0) -> dict:
    return {
        "name": name,
        "configuration": configuration,
        "settings": {"run": configuration},
        "seed": seed,
        "kind": "network",
        "status": "done",
        "cost": {"parameters": 10, "macs": 100, "latency_ms": 1.0},
        "training_seconds": 60.0,
        "epochs": 2,
    }


def two_class(correct: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Per-image matrices of a two-class problem: ``correct`` of ``total`` pixels of
    class 1 right, class 0 always right (50 pixels)."""
    matrices = np.zeros((len(total), 2, 2), np.int64)
    matrices[:, 0, 0] = 50
    matrices[:, 1, 1] = correct
    matrices[:, 1, 0] = total - correct
    return matrices


def test_the_paired_difference_sees_a_small_consistent_gain_that_the_intervals_hide() -> None:
    rng = np.random.default_rng(0)
    total = np.full(40, 100)
    hardness = rng.integers(10, 90, 40)  # images differ a lot in difficulty
    scores = {
        "a": scores_of(two_class(hardness, total)),
        "b": scores_of(two_class(hardness + 3, total)),
    }
    records = [record("a", "a"), record("b", "b")]
    document = summarize(records, scores, ["a", "b"], "a", [], Scoring(bootstrap=500))
    a, b = (c["metrics"]["miou"] for c in document["configurations"])
    assert a["difference"] is None  # the baseline itself
    assert b["ci"]["low"] < a["ci"]["high"]  # the two intervals overlap ...
    difference = b["difference"]
    assert difference["beyond_noise"] and difference["low"] > 0  # ... the paired one is > 0
    assert difference["value"] == pytest.approx(b["mean"] - a["mean"])


def test_identical_runs_differ_by_exactly_zero_and_seeds_average() -> None:
    matrices = two_class(np.array([10, 60, 30, 90]), np.full(4, 100))
    better = two_class(np.array([20, 70, 40, 95]), np.full(4, 100))
    scores = {"a": scores_of(matrices), "b0": scores_of(matrices), "b1": scores_of(better)}
    records = [record("a", "a"), record("b0", "b", 0), record("b1", "b", 1)]
    document = summarize(records, scores, ["a", "b"], "a", [], Scoring(bootstrap=200))
    b = document["configurations"][1]["metrics"]["miou"]
    per_seed = [pooled_scores(m, np.ones((1, 4)))["miou"][0] for m in (matrices, better)]
    assert b["per_seed"] == pytest.approx(per_seed)
    assert b["mean"] == pytest.approx(np.mean(per_seed))
    assert b["std"] == pytest.approx(np.std(per_seed, ddof=1))
    same = summarize(
        records[:2],
        {"a": scores["a"], "b0": scores["b0"]},
        ["a", "b"],
        "a",
        [],
        Scoring(bootstrap=200),
    )
    difference = same["configurations"][1]["metrics"]["miou"]["difference"]
    assert (difference["value"], difference["low"], difference["high"]) == (0.0, 0.0, 0.0)
    assert not difference["beyond_noise"]
    assert "miou_difference_low" in results_csv(document).splitlines()[0]


def test_runs_scored_on_different_images_are_refused() -> None:
    first = scores_of(two_class(np.array([1, 2]), np.full(2, 5)))
    other = ImageScores(("x", "y"), first.matrices, first.boundary, first.class_names)
    with pytest.raises(Exception, match="scored on different images"):
        summarize(
            [record("a", "a"), record("b", "b")],
            {"a": first, "b": other},
            ["a", "b"],
            "a",
            [],
            Scoring(),
        )


def test_pareto_front_keeps_the_points_nothing_beats() -> None:
    costs = [1.0, 2.0, 3.0, 2.0, float("nan"), 0.5]
    scores = [0.50, 0.60, 0.55, 0.60, 0.90, 0.40]
    assert pareto_front(costs, scores) == [True, True, False, True, False, True]


def test_two_way_table_averages_cells_and_margins() -> None:
    def configuration(up: str, fusion: str, seed_b: str, miou: float) -> dict:
        return {
            "kind": "network",
            "settings": {"upsample": up, "fusion": fusion, "norm": seed_b},
            "metrics": {"miou": {"mean": miou}},
        }

    configurations = [
        configuration("bilinear", "concat", "bn", 0.6),
        configuration("bilinear", "concat", "gn", 0.4),
        configuration("bilinear", "sum", "bn", 0.3),
        configuration("transposed", "concat", "bn", 0.7),
        configuration("transposed", "sum", "bn", 0.5),
    ]
    tables = two_way_tables(configurations, ["upsample", "fusion", "norm"])
    assert [(t["rows"], t["columns"]) for t in tables] == [
        ("upsample", "fusion"),
        ("upsample", "norm"),
        ("fusion", "norm"),
    ]
    main = tables[0]
    assert main["cells"] == [[pytest.approx(0.5), 0.3], [0.7, 0.5]]
    assert main["row_means"] == [pytest.approx(0.4), pytest.approx(0.6)]
    assert main["column_means"] == [pytest.approx(0.6), pytest.approx(0.4)]
    assert main["complete"] and not tables[1]["complete"]  # transposed × gn was not run

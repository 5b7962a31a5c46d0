"""average_precision: scikit-learn for "step"; worked examples, COCOeval's loop for "coco101"."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.ap import average_precision


def _random_detections(seed: int, m: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Distinct scores (m,) and true-positive flags (m,), with at least one of each flag."""
    rng = np.random.default_rng(seed)
    flags = rng.random(m) < 0.4
    flags[:2] = [True, False]
    scores = rng.random(m) + 0.5 * flags  # true positives tend to score higher
    return scores, flags


def _pycocotools_ap(scores: np.ndarray, flags: np.ndarray, num_ground_truth: int) -> float:
    """AP of one category, area range and IoU threshold as ``COCOeval.accumulate`` and
    ``summarize`` compute it, transcribed loop by loop (no crowd or ignored detections)."""
    order = np.argsort(-scores, kind="mergesort")
    tps = flags[order]
    fps = np.logical_not(tps)
    tp = np.cumsum(tps).astype(float)
    fp = np.cumsum(fps).astype(float)
    nd = len(tp)
    rc = tp / num_ground_truth
    pr = (tp / (fp + tp + np.spacing(1))).tolist()
    rec_thrs = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
    q = np.zeros(len(rec_thrs)).tolist()
    for i in range(nd - 1, 0, -1):
        if pr[i] > pr[i - 1]:
            pr[i - 1] = pr[i]
    inds = np.searchsorted(rc, rec_thrs, side="left")
    for ri, pi in enumerate(inds):
        if pi >= nd:  # pycocotools: an IndexError, caught, leaves the rest at 0
            break
        q[ri] = pr[pi]
    return float(np.mean(q))


@pytest.mark.parametrize("seed", range(5))
def test_step_equals_scikit_learn(seed: int) -> None:
    scores, flags = _random_detections(seed)
    result = average_precision(scores, flags, int(flags.sum()), method="step")
    assert result.ap == pytest.approx(average_precision_score(flags, scores), abs=1e-12)
    # scikit-learn's curve runs from the lowest score up and ends with (precision 1, recall 0).
    precision, recall, _ = precision_recall_curve(flags, scores)
    np.testing.assert_allclose(result.precision, precision[:-1][::-1])
    np.testing.assert_allclose(result.recall, recall[:-1][::-1])
    np.testing.assert_array_equal(result.scores, np.sort(scores)[::-1])


def test_step_ap_scales_with_missed_ground_truth() -> None:
    # Objects that no detection found scale every recall, so the step sum, by k / n.
    scores, flags = _random_detections(5)
    found = int(flags.sum())
    full = average_precision(scores, flags, found).ap
    assert average_precision(scores, flags, 2 * found).ap == pytest.approx(full / 2)


def test_worked_example_step_and_coco101() -> None:
    # 5 detections already in rank order, 3 objects; the 1st and 3rd are true positives.
    #   rank:      1    2    3    4    5
    #   TP / FP:   1/0  1/1  2/1  2/2  2/3
    #   precision: 1    1/2  2/3  1/2  2/5
    #   recall:    1/3  1/3  2/3  2/3  2/3
    result = average_precision([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 0], 3, method="coco101")
    np.testing.assert_allclose(result.precision, [1, 1 / 2, 2 / 3, 1 / 2, 2 / 5])
    np.testing.assert_allclose(result.recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    # COCO: the precision made non-increasing from the right is 1, 2/3, 2/3, 1/2, 2/5.
    # Each recall point r = 0, 0.01, ..., 1 reads it at the first rank with recall >= r:
    #   r = 0 ... 0.33 (34 points): rank 1 -> 1
    #   r = 0.34 ... 0.66 (33 points): rank 3 -> 2/3
    #   r = 0.67 ... 1 (34 points): recall never reaches r -> 0
    # AP = (34 * 1 + 33 * 2/3 + 34 * 0) / 101 = 56 / 101.
    assert result.ap == pytest.approx(56 / 101)
    # Step: recall rises by 1/3 at ranks 1 and 3: 1/3 * 1 + 1/3 * 2/3 = 5/9.
    step = average_precision([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 0], 3, method="step")
    assert step.ap == pytest.approx(5 / 9)


def test_worked_example_reaching_full_recall() -> None:
    # Ranked flags FP, TP, TP with 2 objects: precision 0, 1/2, 2/3; recall 0, 1/2, 1.
    # COCO: the envelope is 2/3 everywhere and every recall point is reached: AP 2/3.
    # Step: 1/2 * 1/2 + 1/2 * 2/3 = 7/12.
    scores, flags = [3.0, 2.0, 1.0], [False, True, True]
    assert average_precision(scores, flags, 2, method="coco101").ap == pytest.approx(2 / 3)
    assert average_precision(scores, flags, 2, method="step").ap == pytest.approx(7 / 12)


@pytest.mark.parametrize("seed", range(5))
def test_coco101_equals_cocoeval_loop(seed: int) -> None:
    scores, flags = _random_detections(seed)
    scores = np.round(scores, 1)  # ties too: both rank them stably
    for num_ground_truth in (int(flags.sum()), int(flags.sum()) + 7):
        ours = average_precision(scores, flags, num_ground_truth, method="coco101").ap
        assert ours == pytest.approx(_pycocotools_ap(scores, flags, num_ground_truth), abs=1e-12)


def test_ties_keep_input_order() -> None:
    # Two detections with one score and one object: whichever comes first ranks first.
    first = average_precision([0.5, 0.5], [True, False], 1)
    second = average_precision([0.5, 0.5], [False, True], 1)
    np.testing.assert_allclose(first.precision, [1, 1 / 2])
    assert (first.ap, second.ap) == (1.0, 0.5)
    # scikit-learn merges the tie into one threshold (precision 1/2 at recall 1).
    assert average_precision_score([1, 0], [0.5, 0.5]) == 0.5


@pytest.mark.parametrize("method", ["step", "coco101"])
def test_perfect_empty_and_undefined(method: str) -> None:
    assert average_precision([0.9, 0.2], [1, 1], 2, method=method).ap == 1.0
    empty = average_precision([], [], 3, method=method)
    assert empty.ap == 0.0 and empty.precision.shape == empty.recall.shape == (0,)
    no_objects = average_precision([0.9], [0], 0, method=method)
    assert math.isnan(no_objects.ap) and math.isnan(no_objects.recall[0])
    assert no_objects.precision.tolist() == [0.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.5], [1], 1, "voc11"), "unknown AP method 'voc11'"),
        (([0.5, 0.4], [1], 1), r"\(2,\) and is_true_positive \(1,\)"),
        (([[0.5]], [[1]], 1), "1-D"),
        (([math.nan], [1], 1), "finite"),
        (([0.5], [2], 1), "0/1 flags"),
        (([0.5, 0.4], [1, 1], 1), "num_ground_truth=1 is less than the 2"),
    ],
)
def test_bad_inputs_raise(args: tuple, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        average_precision(*args)

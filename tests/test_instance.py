"""Object-level metrics: hand-worked matches, brute-force IoU and matching, OpenCV components."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.instance import (
    IOU_THRESHOLDS,
    InstanceScores,
    MatchCounts,
    connected_components,
    dsb2018_score,
    match_instances,
)

I = 255  # noqa: E741  (the ignore index, short so that the maps below stay aligned)

# Two ground-truth objects (ids 1 and 7) and two predicted ones (ids 3 and 5):
# prediction 3 overlaps object 1 on 3 pixels out of 5 in their union (IoU 0.6),
# object 7 is missed and prediction 5 is a false positive.
GT = np.array(
    [
        [1, 1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 7, 7, 0],
    ]
)
PRED = np.array(
    [
        [0, 3, 3, 3, 3, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [5, 5, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]
)


def _random_instances(rng: np.random.Generator, ids: list[int], shape=(12, 15)) -> np.ndarray:
    """Blobby instance map: 3x3 blocks of random ids (0 the most likely), a few pixels flipped."""
    blocks = rng.choice([0, 0, *ids], size=(shape[0] // 3, shape[1] // 3))
    instances = np.kron(blocks, np.ones((3, 3), dtype=np.int64))
    flip = rng.random(shape) < 0.1
    instances[flip] = rng.choice([0, *ids], size=int(flip.sum()))
    return instances


def _scores(pred, target, **options) -> dict:
    """``InstanceScores(2, classes=[1], ...)`` over one image, as its ``to_dict()``."""
    scores = InstanceScores(2, classes=[1], **options)
    scores.update(torch.as_tensor(pred)[None], torch.as_tensor(target)[None])
    return scores.compute(class_names=["background", "object"]).to_dict()


def test_hand_example_counts_at_two_thresholds() -> None:
    match = match_instances(PRED, GT)
    np.testing.assert_array_equal(match.gt_ids, [1, 7])
    np.testing.assert_array_equal(match.pred_ids, [3, 5])
    np.testing.assert_allclose(match.iou, [[0.6, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(match.pairs, [[1, 3]])
    np.testing.assert_allclose(match.pair_iou, [0.6])

    counts = match.counts([0.5, 0.6, 0.75])
    # At 0.5: TP 1, FP 1, FN 1 -> precision = recall = F1 = 1/2; DSB 1 / (1 + 1 + 1).
    # At 0.6 the IoU equals the threshold, and a match needs strictly more: no TP.
    # At 0.75: TP 0, FP 2, FN 2 -> all zero.
    assert counts.true_positives == (1, 0, 0)
    np.testing.assert_array_equal(counts.false_positives, [1, 2, 2])
    np.testing.assert_array_equal(counts.false_negatives, [1, 2, 2])
    np.testing.assert_allclose(counts.precision, [0.5, 0, 0])
    np.testing.assert_allclose(counts.recall, [0.5, 0, 0])
    np.testing.assert_allclose(counts.f1, [0.5, 0, 0])
    np.testing.assert_allclose(counts.dsb, [1 / 3, 0, 0])


def test_dsb2018_hand_example() -> None:
    # The match (IoU 0.6) counts at thresholds 0.5 and 0.55 only, each scoring 1/3;
    # the other 8 thresholds score 0/4. Mean over 10 thresholds: (2/3) / 10 = 1/15.
    assert IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    assert dsb2018_score(PRED, GT) == pytest.approx(1 / 15)
    assert dsb2018_score(GT, GT) == 1.0
    # Swapping the roles keeps the score (TP, and FP + FN, are symmetric).
    assert dsb2018_score(GT, PRED) == pytest.approx(1 / 15)


def test_empty_cases() -> None:
    empty = np.zeros_like(GT)
    nothing = match_instances(empty, empty)
    assert nothing.iou.shape == (0, 0) and nothing.pairs.shape == (0, 2)
    counts = nothing.counts()
    assert (counts.num_gt, counts.num_pred, counts.true_positives) == (0, 0, (0,))
    assert all(math.isnan(v[0]) for v in (counts.precision, counts.recall, counts.f1, counts.dsb))
    assert dsb2018_score(empty, empty) == 1.0  # nothing to find, nothing found

    missed = match_instances(empty, GT).counts()
    assert missed.recall[0] == 0.0
    assert math.isnan(missed.precision[0]) and missed.f1[0] == 0.0
    assert dsb2018_score(empty, GT) == 0.0

    spurious = match_instances(PRED, empty).counts()
    assert spurious.precision[0] == 0.0 and math.isnan(spurious.recall[0])
    assert dsb2018_score(PRED, empty) == 0.0


@pytest.mark.parametrize("ids", [[2, 5, 9, 13], [10**6, 3 * 10**9, 7]])
def test_iou_matrix_equals_per_pair_loop(ids: list[int]) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        gt, pred = _random_instances(rng, ids), _random_instances(rng, ids[::-1])
        match = match_instances(pred, gt)
        assert match.gt_ids.tolist() == sorted(set(np.unique(gt)) - {0})
        assert match.pred_ids.tolist() == sorted(set(np.unique(pred)) - {0})
        expected = np.zeros(match.iou.shape)
        for i, g in enumerate(match.gt_ids):
            for j, p in enumerate(match.pred_ids):
                both = np.sum((gt == g) & (pred == p))
                expected[i, j] = both / np.sum((gt == g) | (pred == p))
        np.testing.assert_allclose(match.iou, expected)


def _best_matching(iou: np.ndarray, threshold: float, row: int = 0, used=frozenset()):
    """(count, total IoU) of the best one-to-one matching above the threshold, by search."""
    if row == iou.shape[0]:
        return 0, 0.0
    best = _best_matching(iou, threshold, row + 1, used)
    for col in range(iou.shape[1]):
        if col not in used and iou[row, col] > threshold:
            count, total = _best_matching(iou, threshold, row + 1, used | {col})
            best = max(best, (count + 1, total + iou[row, col]))
    return best


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 0.7])
def test_matching_is_one_to_one_and_optimal(threshold: float) -> None:
    rng = np.random.default_rng(1)
    for _ in range(10):
        gt, pred = _random_instances(rng, [1, 2, 3, 4, 5]), _random_instances(rng, [1, 2, 3, 4])
        match = match_instances(pred, gt, threshold=threshold)
        assert len(set(match.pairs[:, 0])) == len(set(match.pairs[:, 1])) == len(match.pairs)
        assert np.all(match.pair_iou > threshold)
        count, total = _best_matching(match.iou, threshold)
        assert len(match.pairs) == count
        assert match.pair_iou.sum() == pytest.approx(total)
        if threshold >= 0.5:  # unique by construction: every pair above it is a match
            assert len(match.pairs) == np.sum(match.iou > threshold)


def test_low_threshold_prefers_more_matches_over_the_best_pair() -> None:
    # One row of 4 pixels. gt: 1 = cols 0-2, 2 = col 3. pred: 1 = cols 1-3, 2 = col 0.
    # IoU(gt 1, pred 1) = 2/4, IoU(gt 1, pred 2) = 1/3, IoU(gt 2, pred 1) = 1/3.
    gt, pred = np.array([[1, 1, 1, 2]]), np.array([[2, 1, 1, 1]])
    # Taking the best pair first (1, 1) would leave gt 2 alone; the assignment finds two.
    low = match_instances(pred, gt, threshold=0.3)
    np.testing.assert_array_equal(low.pairs, [[1, 2], [2, 1]])
    np.testing.assert_allclose(low.pair_iou, [1 / 3, 1 / 3])
    np.testing.assert_array_equal(match_instances(pred, gt, threshold=0.45).pairs, [[1, 1]])
    assert match_instances(pred, gt, threshold=0.5).pairs.shape == (0, 2)  # 0.5 is not > 0.5
    assert low.counts([0.3, 0.45, 0.5]).true_positives == (2, 1, 0)


def test_connected_components_4_and_8_on_a_diagonal() -> None:
    diagonal = np.eye(3, dtype=np.int64)
    np.testing.assert_array_equal(connected_components(diagonal, [1], connectivity=4), [
        [1, 0, 0],
        [0, 2, 0],
        [0, 0, 3],
    ])  # fmt: skip
    np.testing.assert_array_equal(connected_components(diagonal, [1], connectivity=8), diagonal)


def test_connected_components_split_classes_and_skip_others() -> None:
    semantic = np.array(
        [
            [2, 2, 1, 0, 1],
            [2, 2, 1, 0, 1],
            [3, 3, 3, 3, 3],
        ]
    )
    # Touching regions of classes 2 and 1 stay apart; ids go class by class in the given
    # order (2 first), then in raster order; class 3 is not asked for.
    np.testing.assert_array_equal(connected_components(semantic, [2, 1]), [
        [1, 1, 2, 0, 3],
        [1, 1, 2, 0, 3],
        [0, 0, 0, 0, 0],
    ])  # fmt: skip


@pytest.mark.parametrize("connectivity", [4, 8])
def test_connected_components_agree_with_opencv(connectivity: int) -> None:
    rng = np.random.default_rng(2)
    mask = (rng.random((40, 50)) < 0.45).astype(np.uint8)
    ours = connected_components(mask, [1], connectivity=connectivity)
    count, theirs = cv2.connectedComponents(mask, connectivity=connectivity)
    assert ours.max() == count - 1 > 10
    # The same partition: each of our objects is exactly one of OpenCV's.
    pairs = np.unique(np.stack([ours.ravel(), theirs.ravel()]), axis=1)
    assert pairs.shape[1] == count


def test_instance_scores_hand_example_and_pooling() -> None:
    scores = InstanceScores(2, classes=[1])
    scores.update(torch.as_tensor(PRED > 0).long()[None], torch.as_tensor(GT > 0).long()[None])
    d = scores.compute(class_names=["background", "nucleus"]).to_dict()
    assert (d["precision@0.5"], d["recall@0.5"], d["f1@0.5"]) == (0.5, 0.5, 0.5)
    assert d["ap_dsb"] == pytest.approx(1 / 15)
    assert (d["num_gt"], d["num_pred"]) == (2, 2)
    one_class = d["per_class"]["nucleus"]  # with one class, pooled and per-class agree
    assert one_class == {key: d[key] for key in one_class}

    # A second image predicted perfectly (one object, IoU 1). Pooled counts:
    # TP 2 at 0.5 and 0.55, TP 1 above; num_gt = num_pred = 3.
    # DSB per threshold: 2 / (3 + 3 - 2) = 1/2 twice, 1 / (3 + 3 - 1) = 1/5 eight times,
    # so ap_dsb = (2 * 1/2 + 8 * 1/5) / 10 = 0.26, not the mean (1/15 + 1) / 2 of the images.
    blob = torch.zeros(1, 4, 8, dtype=torch.long)
    blob[0, 1:3, 2:5] = 1
    scores.update(blob, blob)
    d = scores.compute().to_dict()
    assert d["precision@0.5"] == pytest.approx(2 / 3) and d["recall@0.5"] == pytest.approx(2 / 3)
    assert d["ap_dsb"] == pytest.approx(0.26)
    assert d["num_images"] == 2


def test_to_dict_keys_nan_and_json() -> None:
    target = torch.tensor([[[1, 1, 0, 0], [0, 0, 0, 0]]])
    pred = torch.tensor([[[1, 1, 0, 2], [0, 0, 0, 0]]])
    scores = InstanceScores(4, ignore_index=I)  # every class scored, 0 (background) included
    scores.update(pred, target)
    d = scores.compute(class_names=["bg", "cell", "debris", "other"]).to_dict()
    assert list(d) == [
        "level",
        "pooled_over",
        "connectivity",
        "classes",
        "thresholds",
        "num_images",
        "precision@0.5",
        "recall@0.5",
        "f1@0.5",
        "ap_dsb",
        "num_gt",
        "num_pred",
        "per_class",
    ]
    assert d["level"] == "object" and d["connectivity"] == 8
    assert d["classes"] == ["bg", "cell", "debris", "other"]
    assert d["thresholds"] == list(IOU_THRESHOLDS)
    assert d["per_class"]["cell"]["ap_dsb"] == 1.0
    # The background is one object on each side, with IoU 5/6 (pixel (0, 3) is lost to
    # "debris"): a match at the 7 thresholds 0.5 ... 0.8, none at 0.85, 0.9 and 0.95.
    assert d["per_class"]["bg"]["ap_dsb"] == pytest.approx(0.7)
    assert d["per_class"]["debris"]["precision@0.5"] == 0.0
    assert d["per_class"]["debris"]["recall@0.5"] is None  # no true debris
    assert all(v is None for k, v in d["per_class"]["other"].items() if not k.startswith("num"))
    json.dumps(d, allow_nan=False)


def test_ignored_pixels_count_in_no_iou() -> None:
    # The prediction spills into ignored pixels only: IoU over the rest is 1.
    target = np.array([[1, 1, I, I, 0, 0]])
    pred = np.array([[1, 1, 1, 1, 0, 0]])
    d = _scores(pred, target)
    assert d["ap_dsb"] == 1.0 and (d["num_gt"], d["num_pred"]) == (1, 1)


def test_predicted_object_inside_ignored_pixels_is_dropped() -> None:
    target = np.array([[1, 1, 0, 0, I, I]])
    pred = np.array([[1, 1, 0, 0, 1, 1]])
    d = _scores(pred, target)
    assert d["num_pred"] == 1 and d["precision@0.5"] == 1.0


def test_ignored_band_splits_targets_but_not_predictions() -> None:
    # Two target objects separated by an ignored band; one predicted blob across it.
    # The blob stays one object, with IoU 2/4 (its ignored pixels left out) against each
    # target object: not above 0.5, so nothing matches.
    target = np.array([[1, 1, I, I, 1, 1]])
    pred = np.array([[1, 1, 1, 1, 1, 1]])
    d = _scores(pred, target)
    assert (d["num_gt"], d["num_pred"], d["precision@0.5"]) == (2, 1, 0.0)


def test_connectivity_option() -> None:
    target = torch.as_tensor(np.eye(4, dtype=np.int64))
    d4, d8 = (_scores(target, target, connectivity=c) for c in (4, 8))
    assert (d4["num_gt"], d4["connectivity"]) == (4, 4)
    assert (d8["num_gt"], d8["connectivity"]) == (1, 8)
    assert d4["ap_dsb"] == d8["ap_dsb"] == 1.0


def test_batches_logits_and_reset() -> None:
    rng = np.random.default_rng(3)
    target = torch.as_tensor(np.stack([_random_instances(rng, [1, 2]) for _ in range(3)]))
    target[:, 0, :4] = I
    logits = torch.randn(3, 3, *target.shape[1:], generator=torch.Generator().manual_seed(3))
    logits[:, 1] += 2 * (target == 1)  # mostly right, so that there are matches
    whole = InstanceScores(3, classes=[1, 2], thresholds=[0.3, 0.5, 0.8])
    whole.update(logits, target)
    one_by_one = InstanceScores(3, classes=[1, 2], thresholds=[0.3, 0.5, 0.8])
    for n in range(3):
        one_by_one.update(logits.argmax(1)[n : n + 1], target[n : n + 1])
    assert whole.compute() == one_by_one.compute()
    assert whole.compute().pooled.true_positives[0] > 0
    assert list(whole.compute().to_dict())[6] == "precision@0.3"
    whole.reset()
    assert whole.num_images == 0 and whole.compute().pooled == MatchCounts.zero([0.3, 0.5, 0.8])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: connected_components(np.eye(3, dtype=int), [1], connectivity=6), "connectivity"),
        (lambda: connected_components(np.ones(3, dtype=int), [1]), "2-D integer"),
        (lambda: connected_components(np.eye(3, dtype=int), [1, 1]), "repeat"),
        (lambda: match_instances(GT, GT[:2]), "differ in shape"),
        (lambda: match_instances(-GT, GT), "negative"),
        (lambda: match_instances(GT, GT, threshold=1.0), r"\[0, 1\)"),
        (lambda: InstanceScores(3, thresholds=[0.7, 0.5]), "increasing"),
        (lambda: InstanceScores(3, classes=[1, 3]), r"\[1, 3\]"),
        (lambda: InstanceScores(3, ignore_index=2, classes=[2]), "ignore index 2"),
        (lambda: InstanceScores(3).compute(class_names=["a", "b"]), "3 unique class names"),
        (
            lambda: InstanceScores(3).update(torch.tensor([[[0, 4]]]), torch.tensor([[[0, 1]]])),
            r"predicted labels outside \[0, 3\): \[4\]",
        ),
        (
            lambda: InstanceScores(3).update(torch.tensor([[[0, 1]]]), torch.tensor([[[7, I]]])),
            r"target labels outside \[0, 3\): \[7\]",
        ),
    ],
)
def test_user_mistakes_raise(call, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        call()


def test_programming_mistakes_raise_value_error() -> None:
    with pytest.raises(ValueError, match=r"\(1, 4, 2, 2\)"):
        InstanceScores(3).update(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="cannot add"):
        MatchCounts.zero([0.5]) + MatchCounts.zero([0.5, 0.75])

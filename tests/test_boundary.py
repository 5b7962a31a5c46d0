"""BoundaryF1: hand-worked squares, a brute-force reference, ignored pixels, edge cases."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.boundary import BoundaryF1, BoundaryScores, boundary

IGNORE = 255


def _square(top: int, left: int, side: int, size: int = 10) -> torch.Tensor:
    """A (1, size, size) label map: class 1 on a side x side square, class 0 elsewhere."""
    labels = torch.zeros(1, size, size, dtype=torch.long)
    labels[0, top : top + side, left : left + side] = 1
    return labels


def _scores(pred: torch.Tensor, target: torch.Tensor, tolerance: float) -> BoundaryScores:
    metric = BoundaryF1(3, ignore_index=IGNORE, tolerance=tolerance)
    metric.update(pred, target)
    return metric.compute()


def _blocky_batch(seed: int, n: int = 3, c: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and target labels (n, 24, 30): random 6x6 blocks, ~5% target ignored."""
    rng = np.random.default_rng(seed)

    def blocks() -> np.ndarray:
        return np.kron(rng.integers(0, c, (n, 4, 5)), np.ones((1, 6, 6), dtype=np.int64))

    target, pred = blocks(), blocks()
    target[rng.random(target.shape) < 0.05] = IGNORE
    return torch.from_numpy(pred), torch.from_numpy(target)


def _reference_boundary(labels: np.ndarray, valid: np.ndarray, c: int) -> np.ndarray:
    """Valid pixels of class c with a valid 8-neighbour of another class (label shifts)."""
    h, w = labels.shape
    other = np.pad((labels != c) & valid, 1)
    touches_other = np.zeros((h, w), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            touches_other |= other[dy : dy + h, dx : dx + w]
    return (labels == c) & valid & touches_other


def _reference_bf(pred: np.ndarray, target: np.ndarray, c: int, tolerance: float) -> float:
    """BF by brute force over all pairs of boundary pixel coordinates."""
    valid = target != IGNORE
    p = np.argwhere(_reference_boundary(pred, valid, c))
    t = np.argwhere(_reference_boundary(target, valid, c))
    if len(p) == 0 and len(t) == 0:
        return math.nan
    if len(p) == 0 or len(t) == 0:
        return 0.0
    distance = cdist(p, t)
    precision = np.mean(distance.min(axis=1) <= tolerance)
    recall = np.mean(distance.min(axis=0) <= tolerance)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_square_shifted_by_one_pixel() -> None:
    # Target: class 1 on rows 2-5, cols 2-5; prediction one column to the right (3-6).
    target, pred = _square(2, 2, 4), _square(2, 3, 4)
    # Tolerance 0, class 1: each 12-pixel ring shares rows 2 and 5 at cols 3-5 with the
    # other, 6 pixels: P = R = 6/12, BF 1/2.
    # Class 0: each 20-pixel ring around a square shares rows 1 and 6 at cols 2-6 with
    # the other, 10 pixels: P = R = 10/20, BF 1/2.
    s = _scores(pred, target, tolerance=0)
    assert s.per_class[:2] == pytest.approx((0.5, 0.5))
    assert math.isnan(s.per_class[2])
    assert s.mean_bf == pytest.approx(0.5)
    # Every boundary pixel has a counterpart one pixel to its left or right.
    for tolerance in (1, 2, 5):
        s = _scores(pred, target, tolerance)
        assert s.per_class[:2] == (1.0, 1.0)
        assert s.mean_bf == 1.0


def test_shrunken_square_precision_differs_from_recall() -> None:
    # Target: class 1 on rows 2-5, cols 2-5; prediction: its 2x2 interior (rows/cols 3-4).
    target, pred = _square(2, 2, 4), _square(3, 3, 2)
    # Tolerance 1, class 1: the 4 predicted pixels all touch the target ring (P = 1);
    # of the 12 ring pixels the 4 corners are sqrt(2) away (R = 8/12). BF = 4/5.
    # Class 0: the predicted ring (rows/cols 2-5, 12 pixels) lies next to the target
    # ring (rows/cols 1-6, 20 pixels): P = 1, R = 16/20 (corners). BF = 8/9.
    s = _scores(pred, target, tolerance=1)
    assert s.per_class[:2] == pytest.approx((8 / 9, 4 / 5))
    assert s.mean_bf == pytest.approx((4 / 5 + 8 / 9) / 2)
    # Tolerance 0: no pixel of either prediction ring lies on a target ring.
    assert _scores(pred, target, tolerance=0).per_class[:2] == (0.0, 0.0)
    assert _scores(pred, target, tolerance=math.sqrt(2)).per_class[:2] == (1.0, 1.0)


def test_matches_brute_force_reference() -> None:
    pred, target = _blocky_batch(0)
    for tolerance in (0, 1, 1.5, 3):
        metric = BoundaryF1(4, ignore_index=IGNORE, tolerance=tolerance)
        metric.update(pred, target)
        s = metric.compute()
        per_image = np.array(
            [
                [_reference_bf(p, t, c, tolerance) for c in range(4)]
                for p, t in zip(pred.numpy(), target.numpy(), strict=True)
            ]
        )
        defined = ~np.isnan(per_image)
        assert s.images_scored == tuple(defined.sum(axis=0).tolist())
        expected = np.nanmean(per_image, axis=0)
        np.testing.assert_allclose(s.per_class, expected)
        assert s.mean_bf == pytest.approx(expected.mean())
        assert 0 < s.mean_bf < 1


def test_perfect_prediction_gives_one() -> None:
    _, target = _blocky_batch(1)
    # The prediction may say anything on ignored pixels.
    pred = torch.where(target == IGNORE, 0, target)
    metric = BoundaryF1(4, ignore_index=IGNORE, tolerance=0)
    metric.update(pred, target)
    s = metric.compute()
    assert s.per_class == (1.0, 1.0, 1.0, 1.0)
    assert s.mean_bf == 1.0


def test_disjoint_far_regions_give_zero() -> None:
    target = _square(2, 2, 5, size=40)
    pred = _square(30, 30, 5, size=40)
    s = _scores(pred, target, tolerance=2)
    assert s.per_class[:2] == (0.0, 0.0)
    assert s.mean_bf == 0.0


def test_one_empty_boundary_gives_zero_and_none_gives_no_score() -> None:
    target = _square(2, 2, 4)
    # Class 1 is never predicted; class 0 fills the prediction, so it has no contour.
    s = _scores(torch.zeros_like(target), target, tolerance=2)
    assert s.per_class[:2] == (0.0, 0.0)
    # No contour in either map: the image gives no score.
    empty = _scores(torch.zeros_like(target), torch.zeros_like(target), tolerance=2)
    assert all(math.isnan(v) for v in empty.per_class)
    assert math.isnan(empty.mean_bf)
    assert (empty.num_images, empty.images_scored) == (1, (0, 0, 0))


def test_ignored_pixels_add_no_boundaries() -> None:
    # The shifted square of the first test, plus an ignored hole in the background where
    # the prediction says class 2: the scores stay those of the first test.
    target, pred = _square(2, 2, 4, size=12), _square(2, 3, 4, size=12)
    target[0, 8:11, 7:10] = IGNORE
    pred[0, 8:11, 7:10] = 2
    s = _scores(pred, target, tolerance=0)
    assert s.per_class[:2] == pytest.approx((0.5, 0.5))
    assert math.isnan(s.per_class[2])
    assert s.images_scored == (1, 1, 0)


def test_boundary_treats_ignored_and_outside_neighbours_as_inside() -> None:
    labels = _square(2, 2, 4, size=12)[0].numpy()
    labels[4, :] = IGNORE  # a stripe across the square and the background
    valid = labels != IGNORE
    ring = np.zeros_like(valid)  # the contour of a square on rows/cols top..bottom-1
    ring[1:7, 1:7] = True
    ring[2:6, 2:6] = False
    # Background: the ring around the square, none along the stripe or the image frame.
    expected = ring.copy()
    expected[4] = False
    np.testing.assert_array_equal(boundary((labels == 0) & valid, ~valid), expected)
    # The square: its own outer ring, less the stripe's row.
    expected = np.zeros_like(valid)
    expected[2:6, 2:6] = True
    expected[3:5, 3:5] = False
    expected[4] = False
    np.testing.assert_array_equal(boundary((labels == 1) & valid, ~valid), expected)


def test_tolerance_is_monotone() -> None:
    pred, target = _blocky_batch(2)
    scores = []
    for tolerance in (0, 1, 1.5, 2, 3, 6):
        metric = BoundaryF1(4, ignore_index=IGNORE, tolerance=tolerance)
        metric.update(pred, target)
        scores.append(np.array(metric.compute().per_class))
    for lower, higher in pairwise(scores):
        assert np.all(higher >= lower)
    assert np.all(scores[-1] > scores[0])


def test_logits_batches_and_reset() -> None:
    pred, target = _blocky_batch(3)
    logits = torch.nn.functional.one_hot(pred, 4).permute(0, 3, 1, 2).float()
    whole, streamed = BoundaryF1(4), BoundaryF1(4)
    whole.update(logits, target)
    for i in range(len(target)):
        streamed.update(pred[i : i + 1], target[i : i + 1])
    assert streamed.compute() == whole.compute()
    assert whole.compute().num_images == 3
    whole.reset()
    assert whole.compute().num_images == 0
    assert math.isnan(whole.compute().mean_bf)


def test_to_dict_is_labelled_json() -> None:
    target, pred = _square(2, 2, 4), _square(2, 3, 4)
    metric = BoundaryF1(3, tolerance=0)
    metric.update(pred, target)
    d = metric.compute(class_names=["sky", "road", "car"]).to_dict()
    assert d == {
        "level": "per_image",
        "averaging": "class_over_images",
        "tolerance_px": 0.0,
        "mean_bf": 0.5,
        "num_images": 1,
        "per_class": {"sky": 0.5, "road": 0.5, "car": None},
        "images_scored": {"sky": 1, "road": 1, "car": 0},
    }
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize("tolerance", [-1, math.inf, math.nan])
def test_bad_tolerance(tolerance: float) -> None:
    with pytest.raises(PixelwiseError, match="tolerance"):
        BoundaryF1(3, tolerance=tolerance)


def test_bad_inputs() -> None:
    metric = BoundaryF1(3)
    with pytest.raises(PixelwiseError, match=r"1 target pixels .* \[0, 3\) \(e.g. 7"):
        metric.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.tensor([[[0, 7], [1, 2]]]))
    with pytest.raises(PixelwiseError, match="1 predicted pixels"):
        metric.update(torch.tensor([[[0, 3], [1, 2]]]), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(1, 2, 3\)"):
        metric.update(
            torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 3, dtype=torch.long)
        )
    with pytest.raises(ValueError, match=r"\(1, 2, 2, 2\)"):
        metric.update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(PixelwiseError, match="3 unique class names"):
        metric.compute(class_names=["a", "b"])
    with pytest.raises(PixelwiseError, match="num_classes"):
        BoundaryF1(0)

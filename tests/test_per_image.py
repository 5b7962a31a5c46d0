"""PerImageConfusion and PerImageScores: a hand-worked example, scikit-learn image by image."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, recall_score

from pixelwise.errors import PixelwiseError
from pixelwise.metrics import (
    ConfusionMatrix,
    PerImageConfusion,
    PerImageScores,
    SegmentationScores,
    build_confusion,
)

IGNORE = 255
C = 5


def _random_images(seed: int, n: int = 6, h: int = 10, w: int = 8) -> tuple[torch.Tensor, ...]:
    """Logits (n, C, h, w) and targets (n, h, w) with classes that vary between images.

    Each image's target uses a random subset of the classes, and about 10% of its
    pixels are ignored; image 2, if there is one, is ignored entirely.
    """
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, C, h, w, generator=g)
    target = torch.randint(0, C, (n, h, w), generator=g)
    for i in range(n):
        dropped = torch.randperm(C, generator=g)[: i % 3]
        target[i][torch.isin(target[i], dropped)] = 0
    target[torch.rand(n, h, w, generator=g) < 0.1] = IGNORE
    target[2:3] = IGNORE
    return logits, target


def test_hand_computed_example() -> None:
    # Image A (6 pixels), B (5 counted, one ignored), C (all ignored), 3 classes.
    target = torch.tensor(
        [
            [[0, 0, 1], [1, 1, 2]],
            [[0, 0, IGNORE], [0, 0, 0]],
            [[IGNORE] * 3, [IGNORE] * 3],
        ]
    )
    pred = torch.tensor([[[0, 1, 1], [1, 1, 2]], [[2, 0, 1], [0, 0, 0]], [[0, 1, 2], [0, 1, 2]]])
    # A: rows t0 [1 1 0], t1 [0 3 0], t2 [0 0 1].
    #    IoU 1/2, 3/4, 1 (mIoU 3/4); Dice 2/3, 6/7, 1; precision 1, 3/4, 1; recall 1/2, 1, 1;
    #    pixel acc 5/6, mean acc 5/6, fwIoU (2/2 + 3*3/4 + 1) / 6 = 17/24.
    # B: row t0 [4 0 1]; class 1 absent (its prediction is on the ignored pixel).
    #    IoU 4/5, -, 0 (mIoU 2/5); Dice 8/9, -, 0; precision 1, -, 0; recall 4/5, -, -;
    #    pixel acc 4/5, mean acc 4/5, fwIoU 4/5.
    # C: no pixel counts: left out of every mean.
    cm = PerImageConfusion(3, ignore_index=IGNORE)
    cm.update(pred[:2], target[:2])
    cm.update(pred[2:], target[2:])
    s = cm.compute(class_names=["a", "b", "c"])
    assert isinstance(s, PerImageScores) and s.level == "per_image"
    assert s.miou == pytest.approx((3 / 4 + 2 / 5) / 2)
    assert s.pixel_accuracy == pytest.approx((5 / 6 + 4 / 5) / 2)
    assert s.mean_accuracy == pytest.approx((5 / 6 + 4 / 5) / 2)
    assert s.fwiou == pytest.approx((17 / 24 + 4 / 5) / 2)
    assert s.mean_dice == pytest.approx(((2 / 3 + 6 / 7 + 1) / 3 + (8 / 9 + 0) / 2) / 2)
    # Per class: mean over the images where each score is defined.
    np.testing.assert_allclose(s.iou, [(1 / 2 + 4 / 5) / 2, 3 / 4, (1 + 0) / 2])
    np.testing.assert_allclose(s.dice, [(2 / 3 + 8 / 9) / 2, 6 / 7, (1 + 0) / 2])
    np.testing.assert_allclose(s.precision, [1, 3 / 4, (1 + 0) / 2])
    np.testing.assert_allclose(s.recall, [(1 / 2 + 4 / 5) / 2, 1, 1])
    assert s.class_images == (2, 1, 2)
    assert (s.num_images, s.empty_images) == (3, 1)
    # Pixel counts are pooled, as at dataset level.
    assert s.support == (7, 3, 1) and s.num_pixels == 11 and s.absent_classes == 0
    pooled = ConfusionMatrix(3, ignore_index=IGNORE)
    pooled.update(pred, target)
    assert torch.equal(cm.matrix, pooled.matrix)
    assert pooled.compute().iou[0] == pytest.approx(5 / 7)  # pooled differs: 5 / (7 + 5 - 5)


def _sklearn_per_image(target: torch.Tensor, pred: torch.Tensor) -> dict[str, float | np.ndarray]:
    """Per-image averages from scikit-learn: each image's macro averages over its classes."""
    summary: dict[str, list[float]] = {
        "miou": [],
        "mean_dice": [],
        "mean_accuracy": [],
        "pixel_accuracy": [],
    }
    iou = np.full((len(target), C), np.nan)
    for i, (t, p) in enumerate(zip(target, pred, strict=True)):
        valid = t != IGNORE
        y_true, y_pred = t[valid].numpy(), p[valid].numpy()
        if not y_true.size:
            continue
        present = np.union1d(y_true, y_pred)
        summary["miou"].append(jaccard_score(y_true, y_pred, labels=present, average="macro"))
        summary["mean_dice"].append(
            f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        )
        summary["mean_accuracy"].append(
            recall_score(y_true, y_pred, labels=np.unique(y_true), average="macro")
        )
        summary["pixel_accuracy"].append(accuracy_score(y_true, y_pred))
        iou[i, present] = jaccard_score(y_true, y_pred, labels=present, average=None)
    return {key: np.mean(values) for key, values in summary.items()} | {
        "iou": np.nanmean(iou, axis=0)
    }


def test_matches_scikit_learn_image_by_image() -> None:
    logits, target = _random_images(0)
    cm = PerImageConfusion(C)
    cm.update(logits, target)
    s, ref = cm.compute(), _sklearn_per_image(target, logits.argmax(1))
    for key in ("miou", "mean_dice", "mean_accuracy", "pixel_accuracy"):
        assert getattr(s, key) == pytest.approx(ref[key], rel=1e-12), key
    np.testing.assert_allclose(s.iou, ref["iou"], rtol=1e-12)
    assert (s.num_images, s.empty_images) == (6, 1)


def test_equals_the_mean_of_one_matrix_per_image() -> None:
    # Every field against dataset-level scores of each image alone, averaged by hand.
    logits, target = _random_images(1)
    cm = PerImageConfusion(C)
    cm.update(logits[:4], target[:4])
    cm.update(logits[4:].argmax(1), target[4:])
    s = cm.compute()
    images = []
    for i in range(len(target)):
        one = ConfusionMatrix(C)
        one.update(logits[i : i + 1], target[i : i + 1])
        images.append(one.compute())
    for key in ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "mean_dice"):
        assert getattr(s, key) == pytest.approx(np.nanmean([getattr(x, key) for x in images]))
    for key in ("iou", "dice", "precision", "recall"):
        per_image = np.array([getattr(x, key) for x in images])
        np.testing.assert_allclose(getattr(s, key), np.nanmean(per_image, axis=0), err_msg=key)
    present = np.array([[v == v for v in x.iou] for x in images])  # IoU defined <=> present
    assert s.class_images == tuple(present.sum(axis=0))
    assert s.support == tuple(np.sum([x.support for x in images], axis=0))


def test_one_image_equals_dataset_level() -> None:
    logits, target = _random_images(2, n=1)
    per_image, pooled = PerImageConfusion(C), ConfusionMatrix(C)
    per_image.update(logits, target)
    pooled.update(logits, target)
    a, b = per_image.compute(), pooled.compute()
    for key in ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "mean_dice"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-12)
    for key in ("iou", "dice", "precision", "recall"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12)
    assert (a.support, a.absent_classes, a.num_pixels) == (
        b.support,
        b.absent_classes,
        b.num_pixels,
    )


def test_streaming_merge_and_reset() -> None:
    logits, target = _random_images(3)
    whole = PerImageConfusion(C)
    whole.update(logits, target)
    streamed, other = PerImageConfusion(C), PerImageConfusion(C)
    streamed.update(logits[:1], target[:1])
    streamed.update(logits[1:3], target[1:3])
    other.update(logits[3:], target[3:])
    assert streamed.merge(other) is streamed
    a, b = streamed.compute(), whole.compute()
    assert a.miou == pytest.approx(b.miou, rel=1e-12)
    np.testing.assert_allclose(a.dice, b.dice, rtol=1e-12)
    assert (a.num_images, a.empty_images, a.class_images) == (6, 1, b.class_images)
    streamed.reset()
    s = streamed.compute()
    assert (s.num_images, s.num_pixels) == (0, 0) and math.isnan(s.miou)


def test_to_dict_is_labelled_and_json_ready() -> None:
    logits, target = _random_images(4)
    logits[:, 4] -= 100  # class 4 never predicted
    target[target == 4] = 0  # nor present: absent everywhere
    cm = build_confusion(C, IGNORE, per_image=True)
    cm.update(logits, target)
    d = cm.compute(class_names=list("vwxyz")).to_dict()
    assert d["level"] == "per_image"
    assert set(d) == {
        "level",
        "miou",
        "pixel_accuracy",
        "mean_accuracy",
        "fwiou",
        "mean_dice",
        "absent_classes",
        "num_pixels",
        "num_images",
        "empty_images",
        "per_class",
    }
    assert (d["num_images"], d["empty_images"], d["absent_classes"]) == (6, 1, 1)
    assert set(d["per_class"]["v"]) == {"iou", "dice", "precision", "recall", "support", "images"}
    assert d["per_class"]["z"]["iou"] is None and d["per_class"]["z"]["images"] == 0
    assert d["per_class"]["v"]["images"] == 5  # class 0 in every image that is not empty
    json.dumps(d, allow_nan=False)


def test_build_confusion_switch() -> None:
    dataset_level = build_confusion(3)
    assert type(dataset_level) is ConfusionMatrix
    per_image = build_confusion(3, ignore_index=None, per_image=True)
    assert isinstance(per_image, PerImageConfusion) and per_image.ignore_index is None
    pred = target = torch.tensor([[[0, 1, 2]]])
    for cm, level, kind in (
        (dataset_level, "dataset", SegmentationScores),
        (per_image, "per_image", PerImageScores),
    ):
        cm.update(pred, target)
        s = cm.compute()
        assert type(s) is kind and s.level == level and s.miou == 1.0


def test_errors() -> None:
    with pytest.raises(ValueError, match="cannot merge a ConfusionMatrix"):
        PerImageConfusion(3).merge(ConfusionMatrix(3))
    cm = PerImageConfusion(3)
    cm.update(torch.tensor([[[0, 5]]]), torch.tensor([[[0, 1]]]))
    with pytest.raises(PixelwiseError, match=r"0 target pixels, 1 predicted pixels"):
        cm.compute()
    with pytest.raises(PixelwiseError, match="3 unique class names"):
        PerImageConfusion(3).compute(class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"\(1, 2, 4, 4\)"):
        PerImageConfusion(3).update(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))

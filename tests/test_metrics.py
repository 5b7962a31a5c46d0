"""ConfusionMatrix and SegmentationScores: hand-worked numbers, scikit-learn, NaN rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, jaccard_score

from pixelwise.errors import PixelwiseError
from pixelwise.metrics import ConfusionMatrix, SegmentationScores

IGNORE = 255


def _random_batch(
    seed: int, n: int = 4, c: int = 5, h: int = 16, w: int = 12
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (n, c, h, w) and a target (n, h, w) with about 10% ignored pixels."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g)
    target = torch.randint(0, c, (n, h, w), generator=g)
    target[torch.rand(n, h, w, generator=g) < 0.1] = IGNORE
    return logits, target


def test_hand_computed_example() -> None:
    # 3 classes; pixel (1, 2) is ignored, so 7 pixels count.
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, IGNORE, 1]]])
    pred = torch.tensor([[[0, 2, 1, 1], [2, 0, 2, 2]]])
    # (target, pred) pairs: (0,0) (0,2) (1,1) (1,1) (2,2) (2,0) (1,2)
    #            pred: 0  1  2    support
    #   target 0:      1  0  1    2
    #   target 1:      0  2  1    3
    #   target 2:      1  0  1    2
    #   predicted:     2  2  3    total 7, correct (diagonal) 1 + 2 + 1 = 4
    cm = ConfusionMatrix(3, ignore_index=IGNORE)
    cm.update(pred, target)
    assert cm.matrix.dtype == torch.int64
    assert cm.matrix.tolist() == [[1, 0, 1], [0, 2, 1], [1, 0, 1]]
    s = cm.compute(class_names=["a", "b", "c"])
    assert isinstance(s, SegmentationScores)
    # IoU = tp / (support + predicted - tp): 1/3, 2/3, 1/(2+3-1) = 1/4; mean 5/12
    np.testing.assert_allclose(s.iou, [1 / 3, 2 / 3, 1 / 4])
    assert s.miou == pytest.approx(5 / 12)
    # Dice = 2 tp / (support + predicted): 2/4, 4/5, 2/5; mean 1.7/3 = 17/30
    np.testing.assert_allclose(s.dice, [1 / 2, 4 / 5, 2 / 5])
    assert s.mean_dice == pytest.approx(17 / 30)
    # recall = tp / support: 1/2, 2/3, 1/2; mean accuracy (5/3)/3 = 5/9
    np.testing.assert_allclose(s.recall, [1 / 2, 2 / 3, 1 / 2])
    assert s.mean_accuracy == pytest.approx(5 / 9)
    # precision = tp / predicted: 1/2, 2/2, 1/3
    np.testing.assert_allclose(s.precision, [1 / 2, 1, 1 / 3])
    assert s.pixel_accuracy == pytest.approx(4 / 7)
    # fwIoU = 2/7 * 1/3 + 3/7 * 2/3 + 2/7 * 1/4 = 8/42 + ... = 19/42
    assert s.fwiou == pytest.approx(19 / 42)
    assert s.support == (2, 3, 2)
    assert s.num_pixels == 7
    assert s.absent_classes == 0
    assert s.class_names == ("a", "b", "c")
    assert s.level == "dataset"


def test_matches_scikit_learn() -> None:
    logits, target = _random_batch(0)
    cm = ConfusionMatrix(5, ignore_index=IGNORE)
    cm.update(logits, target)
    s = cm.compute()

    valid = target != IGNORE
    y_true = target[valid].numpy()
    y_pred = logits.argmax(1)[valid].numpy()
    labels = list(range(5))
    np.testing.assert_array_equal(
        cm.matrix.numpy(), confusion_matrix(y_true, y_pred, labels=labels)
    )
    iou = jaccard_score(y_true, y_pred, labels=labels, average=None)
    np.testing.assert_allclose(s.iou, iou)
    assert s.miou == pytest.approx(iou.mean())
    assert s.pixel_accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    assert s.num_pixels == int(valid.sum())


def test_logits_and_labels_agree() -> None:
    logits, target = _random_batch(1)
    from_logits, from_labels = ConfusionMatrix(5), ConfusionMatrix(5)
    from_logits.update(logits, target)
    from_labels.update(logits.argmax(1), target)
    assert torch.equal(from_logits.matrix, from_labels.matrix)


def test_split_batches_and_merge_equal_one_update() -> None:
    logits, target = _random_batch(2, n=6)
    whole = ConfusionMatrix(5)
    whole.update(logits, target)

    streamed = ConfusionMatrix(5)
    streamed.update(logits[:2], target[:2])
    streamed.update(logits[2:3], target[2:3])
    other = ConfusionMatrix(5)
    other.update(logits[3:], target[3:])
    assert streamed.merge(other) is streamed
    assert torch.equal(streamed.matrix, whole.matrix)
    assert streamed.compute() == whole.compute()

    streamed.reset()
    assert int(streamed.matrix.sum()) == 0


def test_nan_rules_and_absent_classes() -> None:
    # 4 classes: 0 predicted and present; 1 present, never predicted;
    # 2 predicted, never present; 3 neither (absent).
    target = torch.tensor([[[0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 0, 2, 0]]])
    cm = ConfusionMatrix(4)
    cm.update(pred, target)
    s = cm.compute()
    # class 0: tp 2, support 2, predicted 3 -> IoU 2/3, recall 1, precision 2/3
    assert s.iou[0] == pytest.approx(2 / 3)
    assert (s.iou[1], s.recall[1], s.dice[1]) == (0.0, 0.0, 0.0)
    assert math.isnan(s.precision[1])
    assert (s.iou[2], s.precision[2], s.dice[2]) == (0.0, 0.0, 0.0)
    assert math.isnan(s.recall[2])
    assert all(math.isnan(v) for v in (s.iou[3], s.dice[3], s.precision[3], s.recall[3]))
    assert s.absent_classes == 1
    # The absent class is left out of the means; class 2 (no support) of mean_accuracy.
    assert s.miou == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert s.mean_dice == pytest.approx((0.8 + 0 + 0) / 3)
    assert s.mean_accuracy == pytest.approx((1 + 0) / 2)
    # fwIoU weighs by support: 2/4 * 2/3 + 2/4 * 0
    assert s.fwiou == pytest.approx(1 / 3)


def test_all_ignored_gives_nan_and_json_nulls() -> None:
    cm = ConfusionMatrix(3)
    cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), IGNORE))
    s = cm.compute()
    assert s.num_pixels == 0
    assert s.absent_classes == 3
    for value in (s.miou, s.pixel_accuracy, s.mean_accuracy, s.fwiou, s.mean_dice):
        assert math.isnan(value)
    d = s.to_dict()
    assert d["miou"] is None and d["per_class"]["class_0"]["iou"] is None
    json.dumps(d, allow_nan=False)


def test_to_dict_keys_and_json() -> None:
    target = torch.tensor([[[0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 1, 1, 1]]])
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    d = cm.compute(class_names=["sky", "road", "car"]).to_dict()
    assert set(d) == {
        "level",
        "miou",
        "pixel_accuracy",
        "mean_accuracy",
        "fwiou",
        "mean_dice",
        "absent_classes",
        "num_pixels",
        "per_class",
    }
    assert d["level"] == "dataset"
    assert list(d["per_class"]) == ["sky", "road", "car"]
    assert set(d["per_class"]["sky"]) == {"iou", "dice", "precision", "recall", "support"}
    assert d["per_class"]["car"]["iou"] is None  # absent class
    assert d["per_class"]["road"]["support"] == 2
    assert type(d["miou"]) is float and type(d["num_pixels"]) is int
    for key in ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "mean_dice"):
        assert 0.0 <= d[key] <= 1.0
    json.dumps(d, allow_nan=False)


def test_ignore_index_none_counts_every_pixel() -> None:
    cm = ConfusionMatrix(2, ignore_index=None)
    cm.update(torch.tensor([[[0, 1, 1]]]), torch.tensor([[[0, 1, 0]]]))
    assert cm.matrix.tolist() == [[1, 1], [0, 1]]


def test_out_of_range_labels_do_not_corrupt_and_raise_at_compute() -> None:
    cm = ConfusionMatrix(3)
    # target 7 is neither a class nor the ignore index; predicted labels -1 and 3 are invalid.
    cm.update(torch.tensor([[[0, 0, -1, 3]]]), torch.tensor([[[0, 7, 1, 2]]]))
    assert cm.matrix.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    with pytest.raises(PixelwiseError, match=r"1 target pixels, 2 predicted pixels"):
        cm.compute()


@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        (torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long), r"\(1, 4, 5\)"),
        (torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long), r"\(1, 2, 4, 4\)"),
        (torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4, dtype=torch.long), "differ"),
        (torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4), "integer labels"),
    ],
)
def test_bad_inputs_raise_value_error(
    pred: torch.Tensor, target: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ConfusionMatrix(3).update(pred, target)


def test_bad_class_names_and_merge() -> None:
    with pytest.raises(PixelwiseError, match="3 unique class names"):
        ConfusionMatrix(3).compute(class_names=["a", "a", "b"])
    with pytest.raises(ValueError, match="cannot merge"):
        ConfusionMatrix(3).merge(ConfusionMatrix(4))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_accumulates_on_the_input_device() -> None:
    logits, target = _random_batch(3)
    cm = ConfusionMatrix(5)
    cm.update(logits.cuda(), target.cuda())
    assert cm.matrix.device.type == "cuda"
    reference = ConfusionMatrix(5)
    reference.update(logits, target)
    assert torch.equal(cm.matrix.cpu(), reference.matrix)
    assert cm.compute() == reference.compute()

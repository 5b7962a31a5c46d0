"""ConfusionMatrix and SegmentationScores: hand-worked numbers, scikit-learn, NaN rules."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)

from pixelwise.errors import PixelwiseError
from pixelwise.metrics import ConfusionMatrix, PerImageConfusion, SegmentationScores
from pixelwise.metrics.confusion import CPU_BLOCK, count_on_device
from pixelwise.metrics.inputs import ARGMAX_BLOCK_PIXELS, predicted_labels

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


def _sklearn_scores(y_true: np.ndarray, y_pred: np.ndarray, c: int) -> dict[str, np.ndarray]:
    """Every score from scikit-learn: per-class functions, the rest by hand from its matrix."""
    labels = list(range(c))
    m = confusion_matrix(y_true, y_pred, labels=labels).astype(float)
    support, predicted = m.sum(axis=1), m.sum(axis=0)
    absent = (support == 0) & (predicted == 0)
    # jaccard_score has no NaN zero_division: it gives absent classes 0 where we give NaN.
    iou = jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    iou = np.where(absent, np.nan, iou)
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    return {
        "matrix": m,
        "iou": iou,
        "dice": f1_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan),
        "precision": precision_score(
            y_true, y_pred, labels=labels, average=None, zero_division=np.nan
        ),
        "recall": recall,
        "support": support,
        "miou": np.nanmean(iou),
        "pixel_accuracy": accuracy_score(y_true, y_pred),
        "mean_accuracy": np.nanmean(recall),
        "fwiou": np.nansum(support / m.sum() * iou),
        "absent": absent.sum(),
    }


def test_every_score_matches_scikit_learn() -> None:
    # 6 classes over several batches: class 5 never occurs nor is predicted (absent),
    # class 4 is never predicted, class 3 is predicted but never in the target.
    c, batches = 6, [_random_batch(seed, c=6) for seed in range(3)]
    cm = ConfusionMatrix(c, ignore_index=IGNORE)
    true_parts, pred_parts = [], []
    for i, (logits, target) in enumerate(batches):
        logits[:, 4:] -= 100
        target[target == 3] = 4
        target[target == 5] = 0
        cm.update(logits if i % 2 else logits.argmax(1), target)
        valid = target != IGNORE
        true_parts.append(target[valid].numpy())
        pred_parts.append(logits.argmax(1)[valid].numpy())
    y_true, y_pred = np.concatenate(true_parts), np.concatenate(pred_parts)
    s, ref = cm.compute(), _sklearn_scores(y_true, y_pred, c)
    assert set(y_pred) == {0, 1, 2, 3} and set(y_true) == {0, 1, 2, 4}

    np.testing.assert_array_equal(cm.matrix.numpy(), ref["matrix"])
    for key in ("iou", "dice", "precision", "recall"):
        np.testing.assert_allclose(getattr(s, key), ref[key], rtol=1e-12, err_msg=key)
    for key in ("miou", "pixel_accuracy", "mean_accuracy", "fwiou"):
        assert getattr(s, key) == pytest.approx(ref[key], rel=1e-12), key
    assert s.mean_dice == pytest.approx(np.nanmean(ref["dice"]), rel=1e-12)
    assert s.support == tuple(ref["support"].astype(int))
    assert (s.absent_classes, s.num_pixels) == (ref["absent"], len(y_true))
    assert math.isnan(s.iou[5]) and math.isnan(s.precision[4]) and math.isnan(s.recall[3])


@pytest.mark.parametrize(
    ("ignore_index", "dtype"),
    [
        (ignore_index, dtype)
        for ignore_index in (None, 0, -100, 255)
        for dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
        if ignore_index is None or torch.iinfo(dtype).min <= ignore_index <= torch.iinfo(dtype).max
    ],
)
def test_label_dtypes_and_ignore_values_match_scikit_learn(
    ignore_index: int | None, dtype: torch.dtype
) -> None:
    g = torch.Generator().manual_seed(7)
    target = torch.randint(0, 4, (2, 9, 7), generator=g)
    pred = torch.randint(0, 4, (2, 9, 7), generator=g)
    if ignore_index not in (None, 0):
        target[torch.rand(target.shape, generator=g) < 0.2] = ignore_index
    cm = ConfusionMatrix(4, ignore_index=ignore_index)
    cm.update(pred.to(dtype), target.to(dtype))
    valid = (
        torch.ones_like(target, dtype=torch.bool)
        if ignore_index is None
        else target != ignore_index
    )
    expected = confusion_matrix(target[valid], pred[valid], labels=range(4))
    np.testing.assert_array_equal(cm.matrix.numpy(), expected)
    assert cm.compute().num_pixels == int(valid.sum())


def test_many_classes_use_a_wider_index() -> None:
    # 200 classes: (C + 3)(C + 2) bins no longer fit in int16.
    g = torch.Generator().manual_seed(8)
    logits = torch.randn(1, 200, 30, 30, generator=g)
    target = torch.randint(0, 200, (1, 30, 30), generator=g)
    target[0, 0] = IGNORE
    cm = ConfusionMatrix(200)
    cm.update(logits, target)
    valid = target != IGNORE
    expected = confusion_matrix(target[valid], logits.argmax(1)[valid], labels=range(200))
    np.testing.assert_array_equal(cm.matrix.numpy(), expected)


def test_batches_larger_than_a_cpu_block_count_every_pixel() -> None:
    # 1 x 300 x 500 = 150000 pixels: one full block of 2**17 and a partial one. The
    # transposed (non-contiguous) view must count the same pairs.
    g = torch.Generator().manual_seed(11)
    target = torch.randint(0, 6, (1, 300, 500), generator=g)
    pred = torch.randint(0, 6, (1, 300, 500), generator=g)
    target[target == 5] = IGNORE
    assert target.numel() > CPU_BLOCK
    valid = target != IGNORE
    expected = confusion_matrix(target[valid], pred[valid], labels=range(5))
    for transform in (lambda x: x, lambda x: x.transpose(1, 2)):
        cm = ConfusionMatrix(5)
        cm.update(transform(pred), transform(target))
        np.testing.assert_array_equal(cm.matrix.numpy(), expected)


def test_logits_and_labels_agree() -> None:
    logits, target = _random_batch(1)
    from_logits, from_labels = ConfusionMatrix(5), ConfusionMatrix(5)
    from_logits.update(logits, target)
    from_labels.update(logits.argmax(1), target)
    assert torch.equal(from_logits.matrix, from_labels.matrix)


@pytest.mark.parametrize("kind", ["random", "ties", "infinities", "nan", "bfloat16"])
def test_cpu_argmax_equals_torch_argmax(kind: str) -> None:
    g = torch.Generator().manual_seed(9)
    scores = torch.randn(3, 5, 8, 6, generator=g)
    if kind == "ties":  # three values over five channels: most pixels tie
        scores = torch.randint(0, 3, scores.shape, generator=g).float()
    elif kind == "infinities":
        scores[0, 3] = math.inf
        scores[0, 4, :4] = math.inf
        scores[1] = -math.inf
    elif kind == "nan":  # torch.argmax takes the first NaN
        scores[1, 3, 2, 2] = scores[1, 1, 2, 2] = scores[2, 4, 0, 0] = math.nan
    elif kind == "bfloat16":
        scores = scores.bfloat16()
    labels = predicted_labels(scores, 5, torch.int16)
    assert torch.equal(labels.long(), scores.argmax(dim=1))


@pytest.mark.parametrize("channels", [3, 300])
def test_cpu_argmax_block_by_block_equals_torch_argmax(channels: int) -> None:
    """Images of several blocks of rows, a NaN in one block only, ranks past uint8."""
    height, width = 3 * ARGMAX_BLOCK_PIXELS // 97 + 5, 97
    scores = torch.randint(0, 4, (2, channels, height, width), dtype=torch.float32)
    scores[1, 1, height - 2, 7] = math.nan
    labels = predicted_labels(scores, channels, torch.int64)
    assert torch.equal(labels, scores.argmax(dim=1))


def test_sync_free_count_equals_bincount() -> None:
    index = torch.randint(0, 50, (1000,), generator=torch.Generator().manual_seed(10))
    for dtype in (torch.int16, torch.int64):
        counts = count_on_device(index.to(dtype), 60)
        assert counts.dtype == torch.int64
        assert torch.equal(counts, torch.bincount(index, minlength=60))


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
    # Values that wrap round onto valid labels in a narrower integer type stay invalid.
    cm.reset()
    cm.update(torch.tensor([[[65537, 2**40, 1]]]), torch.tensor([[[1, 1, 65536]]]))
    assert int(cm.matrix.sum()) == 0
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


def test_all_reduce_without_a_process_group_changes_nothing() -> None:
    logits, target = _random_batch(4)
    cm = ConfusionMatrix(5)
    cm.update(logits, target)
    before = cm.matrix.clone()
    assert not dist.is_initialized()
    assert cm.all_reduce() is cm
    assert torch.equal(cm.matrix, before)


def _all_reduce_worker(rank: int, store: str) -> None:
    """One of two gloo processes: each counts its own shard, then all_reduce sums them."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=2,
        timeout=timedelta(seconds=60),
    )
    try:
        batches = [_random_batch(seed) for seed in range(5)]
        for kind in (ConfusionMatrix, PerImageConfusion):
            whole, shard = kind(5), kind(5)
            for logits, target in batches:
                whole.update(logits, target)
            for logits, target in batches[rank::2]:
                shard.update(logits, target)
            assert not torch.equal(shard.matrix, whole.matrix)
            assert shard.all_reduce() is shard
            assert torch.equal(shard.matrix, whole.matrix)
            mine, expected = shard.compute(), whole.compute()
            assert mine.num_pixels == expected.num_pixels
            assert mine.miou == pytest.approx(expected.miou, rel=1e-12)
            np.testing.assert_allclose(mine.recall, expected.recall, rtol=1e-12)
            if kind is PerImageConfusion:
                assert mine.num_images == 20
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(
    not dist.is_available() or "fork" not in mp.get_all_start_methods(),
    reason="needs torch.distributed and the fork start method",
)
def test_all_reduce_sums_over_two_gloo_processes(tmp_path: Path) -> None:
    # fork, not spawn: the children need no fresh interpreter, so this takes well under 1 s.
    mp.start_processes(
        _all_reduce_worker, args=(str(tmp_path / "store"),), nprocs=2, start_method="fork"
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", [ConfusionMatrix, PerImageConfusion])
def test_accumulates_on_the_input_device_without_host_sync(kind: type[ConfusionMatrix]) -> None:
    logits, target = _random_batch(3)
    cm = kind(5)
    cm.update(logits[:1].cuda(), target[:1].cuda())  # moves the counts to the GPU
    torch.cuda.set_sync_debug_mode("error")
    try:
        cm.update(logits[1:].cuda(), target[1:].cuda())
        cm.update(logits[1:].argmax(1).cuda(), target[1:].cuda())
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert cm.matrix.device.type == "cuda"
    reference = kind(5)
    for pred, labels in ((logits[:1], target[:1]), (logits[1:], target[1:])):
        reference.update(pred, labels)
    reference.update(logits[1:], target[1:])
    assert torch.equal(cm.matrix.cpu(), reference.matrix)
    mine, expected = cm.compute(), reference.compute()
    assert mine.miou == pytest.approx(expected.miou, rel=1e-12)
    np.testing.assert_allclose(mine.iou, expected.iou, rtol=1e-12)

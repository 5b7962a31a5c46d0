"""Losses: hand-worked examples, independent formulations, ignored pixels, build_loss specs."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch import nn

from pixelwise.cli import build_parser, run_config
from pixelwise.errors import PixelwiseError
from pixelwise.losses import (
    LOSS_NAMES,
    BalancedBCELoss,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    LovaszLoss,
    TverskyLoss,
    TwoClassMargin,
    WeightedSum,
    build_loss,
    parse_loss_spec,
)
from pixelwise.losses import build as losses_build
from pixelwise.losses import inputs as losses_inputs

IGNORE = 255
LN2 = math.log(2)


def _random_batch(seed: int, c: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (2, c, 8, 6) and a target (2, 8, 6) with about 20% ignored pixels."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, c, 8, 6, generator=g)
    target = torch.randint(0, c, (2, 8, 6), generator=g)
    target[torch.rand(2, 8, 6, generator=g) < 0.2] = IGNORE
    return logits, target


def _binary_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (2, 1, 8, 6) and a 0/1 target (2, 8, 6) with about 20% ignored pixels."""
    logits, target = _random_batch(seed, c=2)
    return logits[:, :1] * 2, target


def _probabilities(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    logits, target = _binary_batch(seed)
    return torch.sigmoid(logits), target


def _valid(target: torch.Tensor) -> torch.Tensor:
    return target != IGNORE


# Every loss, as used on its own inputs: (make loss, make (scores, target)).
CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[int], tuple]]] = {
    "ce": (lambda: CrossEntropyLoss([1.0, 2.0, 1.0, 0.5], label_smoothing=0.1), _random_batch),
    "bce": (lambda: BinaryCrossEntropyLoss(pos_weight=2.0, ignore_index=IGNORE), _binary_batch),
    "bce_probabilities": (
        lambda: BinaryCrossEntropyLoss(from_logits=False, ignore_index=IGNORE),
        _probabilities,
    ),
    "balanced_bce": (lambda: BalancedBCELoss(ignore_index=IGNORE), _binary_batch),
    "focal": (lambda: FocalLoss(alpha=[1.0, 2.0, 0.5, 1.0], ignore_index=IGNORE), _random_batch),
    "focal_binary": (
        lambda: FocalLoss("binary", gamma=0.5, alpha=0.25, ignore_index=IGNORE),
        _binary_batch,
    ),
    "dice": (lambda: DiceLoss(ignore_index=IGNORE), _random_batch),
    "dice_binary": (lambda: DiceLoss("binary", ignore_index=IGNORE), _binary_batch),
    "dice_probabilities": (
        lambda: DiceLoss("binary", from_logits=False, ignore_index=IGNORE),
        _probabilities,
    ),
    "tversky": (lambda: TverskyLoss(alpha=0.3, beta=0.7, ignore_index=IGNORE), _random_batch),
    "tversky_binary": (
        lambda: TverskyLoss("binary", alpha=0.7, beta=0.3, ignore_index=IGNORE),
        _binary_batch,
    ),
    "lovasz": (lambda: LovaszLoss(ignore_index=IGNORE), _random_batch),
    "lovasz_binary": (lambda: LovaszLoss("binary", ignore_index=IGNORE), _binary_batch),
    "sum": (lambda: build_loss("ce+0.5*dice+2*lovasz+focal", 4, IGNORE), _random_batch),
    "bce_two_classes": (
        lambda: build_loss("bce+balanced_bce", 2, IGNORE),
        lambda seed: _random_batch(seed, c=2),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_ignored_pixels_have_no_influence(case: str) -> None:
    make_loss, make_batch = CASES[case]
    scores, target = make_batch(1)
    loss_fn = make_loss()
    ignored = (~_valid(target)).unsqueeze(1).expand_as(scores)

    def loss_and_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.clone().requires_grad_()
        loss = loss_fn(x, target)
        loss.backward()
        assert x.grad is not None
        return loss.detach(), x.grad

    loss, grad = loss_and_grad(scores)
    assert torch.isfinite(grad).all()
    assert torch.all(grad[ignored] == 0)
    assert grad[~ignored].abs().sum() > 0

    g = torch.Generator().manual_seed(5)
    noise = torch.rand(scores.shape, generator=g) if "probabilities" in case else 1e3 * scores
    noise.view(-1)[::3] = math.nan  # not even NaN at ignored pixels gets through
    changed_loss, changed_grad = loss_and_grad(torch.where(ignored, noise, scores))
    torch.testing.assert_close(changed_loss, loss, rtol=0, atol=0)
    torch.testing.assert_close(changed_grad, grad, rtol=0, atol=0)


@pytest.mark.parametrize("case", CASES)
def test_gradients_stay_finite_on_saturated_scores(case: str) -> None:
    make_loss, make_batch = CASES[case]
    scores, target = make_batch(2)
    # Logits far beyond float32 saturation; probabilities of exactly 0 and 1.
    scores = scores.round() if "probabilities" in case else scores * 200
    scores.requires_grad_()
    loss = make_loss()(scores, target)
    loss.backward()
    assert torch.isfinite(loss)
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


@pytest.mark.parametrize("case", CASES)
def test_half_precision_scores_are_computed_in_float32(case: str) -> None:
    make_loss, make_batch = CASES[case]
    scores, target = make_batch(4)
    half = scores.half()
    loss = make_loss()(half, target)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, make_loss()(half.float(), target), rtol=0, atol=0)


def test_half_precision_sums_do_not_overflow() -> None:
    # 80,000 confident foreground pixels: their float16 sum would be inf (max 65,504).
    logits = torch.full((2, 1, 200, 200), 5.0)
    target = torch.ones(2, 200, 200, dtype=torch.long)
    for loss in (DiceLoss("binary"), BinaryCrossEntropyLoss(), FocalLoss("binary", gamma=0.0)):
        torch.testing.assert_close(loss(logits.half(), target), loss(logits, target))


@pytest.mark.parametrize("case", CASES)
def test_all_ignored_gives_attached_zero(case: str) -> None:
    make_loss, make_batch = CASES[case]
    scores, target = make_batch(3)
    scores.requires_grad_()
    loss = make_loss()(scores, torch.full_like(target, IGNORE))
    assert loss.item() == 0.0
    loss.backward()
    assert scores.grad is not None and torch.all(scores.grad == 0)


# --- cross-entropy ---


@pytest.mark.parametrize("weight", [None, [0.5, 1.0, 2.0, 3.0]])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_matches_torch_cross_entropy(
    weight: list[float] | None, label_smoothing: float, layout: torch.memory_format
) -> None:
    logits, target = _random_batch(0)
    logits = logits.contiguous(memory_format=layout)
    ours, theirs = (logits.clone().requires_grad_() for _ in range(2))
    loss = CrossEntropyLoss(weight, ignore_index=IGNORE, label_smoothing=label_smoothing)
    expected = F.cross_entropy(
        theirs,
        target,
        weight=None if weight is None else torch.tensor(weight),
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
    )
    got = loss(ours, target)
    torch.testing.assert_close(got, expected)
    got.backward()
    expected.backward()
    torch.testing.assert_close(ours.grad, theirs.grad)


def test_hand_computed_example() -> None:
    # Two pixels, two classes (logits shaped (1, 2, 1, 2)):
    #   pixel 0: logits (0, 0), target 0 -> p = 1/2, loss ln 2
    #   pixel 1: logits (0, ln 3), target 1 -> p = 3/(1+3) = 3/4, loss ln(4/3)
    logits = torch.tensor([[[[0.0, 0.0]], [[0.0, math.log(3)]]]])
    target = torch.tensor([[[0, 1]]])
    # Unweighted mean: (ln 2 + ln 4/3) / 2 = ln(8/3) / 2
    assert CrossEntropyLoss()(logits, target).item() == pytest.approx(math.log(8 / 3) / 2)
    # Weights (1, 3): (1 ln 2 + 3 ln 4/3) / (1 + 3)
    weighted = CrossEntropyLoss(weight=[1.0, 3.0])(logits, target).item()
    assert weighted == pytest.approx((math.log(2) + 3 * math.log(4 / 3)) / 4)


def test_weight_is_a_buffer() -> None:
    loss = CrossEntropyLoss([1.0, 2.0])
    assert "weight" in dict(loss.named_buffers())
    assert "weight" in loss.state_dict()
    assert loss.to(torch.float64).weight.dtype == torch.float64
    assert CrossEntropyLoss().weight is None


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda r: CrossEntropyLoss(ignore_index=IGNORE, reduction=r),
        lambda r: BinaryCrossEntropyLoss(ignore_index=IGNORE, reduction=r),
        lambda r: BalancedBCELoss(ignore_index=IGNORE, reduction=r),
        lambda r: FocalLoss("binary", ignore_index=IGNORE, reduction=r),
    ],
    ids=["ce", "bce", "balanced_bce", "focal"],
)
def test_pixel_loss_reductions(make_loss: Callable[[str], nn.Module]) -> None:
    logits, target = _random_batch(4, c=2)
    if not isinstance(make_loss("mean"), CrossEntropyLoss):
        logits = logits[:, :1]
    per_pixel = make_loss("none")(logits, target)
    assert per_pixel.shape == target.shape
    assert torch.all(per_pixel[~_valid(target)] == 0)
    torch.testing.assert_close(make_loss("sum")(logits, target), per_pixel.sum())
    mean = per_pixel.sum() / _valid(target).sum()
    torch.testing.assert_close(make_loss("mean")(logits, target), mean)


# --- binary cross-entropy ---


def test_bce_hand_computed_example() -> None:
    # Pixel 0: logit 0 (p = 1/2), y = 1, pos_weight 2 -> -2 ln(1/2) = 2 ln 2.
    # Pixel 1: logit ln 3 (p = 3/4), y = 0 -> -ln(1 - 3/4) = ln 4 = 2 ln 2. Mean: 2 ln 2.
    logits = torch.tensor([0.0, math.log(3)]).view(1, 1, 1, 2)
    target = torch.tensor([[[1, 0]]])
    loss = BinaryCrossEntropyLoss(pos_weight=2.0)
    assert loss(logits, target).item() == pytest.approx(2 * LN2)
    from_probabilities = BinaryCrossEntropyLoss(from_logits=False, pos_weight=2.0)
    assert from_probabilities(torch.sigmoid(logits), target).item() == pytest.approx(2 * LN2)


@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_matches_torch(pos_weight: float | None) -> None:
    logits, target = _binary_batch(6)
    valid = _valid(target)
    x, y = logits[:, 0][valid], target[valid].float()
    weight = None if pos_weight is None else torch.tensor(pos_weight)
    expected = F.binary_cross_entropy_with_logits(x, y, pos_weight=weight)
    loss = BinaryCrossEntropyLoss(pos_weight=pos_weight, ignore_index=IGNORE)
    torch.testing.assert_close(loss(logits, target), expected)
    torch.testing.assert_close(loss(logits, target.unsqueeze(1)), expected)  # (N, 1, H, W)
    if pos_weight is None:
        probabilities = BinaryCrossEntropyLoss(from_logits=False, ignore_index=IGNORE)
        expected = F.binary_cross_entropy(torch.sigmoid(x), y)
        torch.testing.assert_close(probabilities(torch.sigmoid(logits), target), expected)


def test_balanced_bce_hand_computed_example() -> None:
    # One positive, three negatives, every p = 1/2: beta = 3/4.
    # Positive: -3/4 ln(1/2); negatives: -1/4 ln(1/2) each; mean (3/4 + 3/4) ln 2 / 4.
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[1, 0], [0, 0]]])
    assert BalancedBCELoss()(logits, target).item() == pytest.approx(0.375 * LN2)
    # A fixed beta = 1/2 weighs every pixel 1/2: 1/2 ln 2.
    assert BalancedBCELoss(beta=0.5)(logits, target).item() == pytest.approx(0.5 * LN2)


def test_balanced_bce_matches_weighted_bce() -> None:
    logits, target = _binary_batch(7)
    valid = _valid(target)
    x, y = logits[:, 0][valid].double(), target[valid].double()
    beta = (y == 0).double().mean()
    weight = beta * y + (1 - beta) * (1 - y)
    expected = F.binary_cross_entropy_with_logits(x, y, weight=weight)
    loss = BalancedBCELoss(ignore_index=IGNORE)(logits.double(), target)
    torch.testing.assert_close(loss, expected)


def test_balanced_bce_is_stable_in_log_space() -> None:
    logits = torch.tensor([-200.0, 200.0]).view(1, 1, 1, 2).requires_grad_()
    loss = BalancedBCELoss()(logits, torch.tensor([[[1, 0]]]))
    # Each pixel costs its full margin: beta = 1/2, so (1/2 * 200 + 1/2 * 200) / 2.
    assert loss.item() == pytest.approx(100.0)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


# --- binary targets ---

BINARY_LOSSES = [
    BinaryCrossEntropyLoss,
    BalancedBCELoss,
    lambda **kw: FocalLoss("binary", **kw),
    lambda **kw: DiceLoss("binary", **kw),
    lambda **kw: TverskyLoss("binary", **kw),
    lambda **kw: LovaszLoss("binary", **kw),
]


@pytest.mark.parametrize("make_loss", BINARY_LOSSES)
def test_binary_target_255_is_an_error_unless_ignored(make_loss: Callable) -> None:
    logits = torch.randn(1, 1, 2, 2)
    mask = torch.tensor([[[0, 255], [255, 0]]])  # a 0/255 mask as stored on disk
    with pytest.raises(PixelwiseError, match=r"binary target holds 255.*0/255 mask to 0/1"):
        make_loss()(logits, mask)
    # With 255 as the ignore index those pixels are skipped: only the two 0 pixels count.
    kept = logits[..., [0, 1], [0, 1]].view(1, 1, 1, 2)
    torch.testing.assert_close(
        make_loss(ignore_index=255)(logits, mask),
        make_loss()(kept, torch.zeros(1, 1, 2, dtype=torch.long)),
    )


@pytest.mark.parametrize("make_loss", BINARY_LOSSES)
def test_binary_losses_take_bool_and_float_targets(make_loss: Callable) -> None:
    logits, target = _binary_batch(8)
    target = target.clamp(max=1)
    expected = make_loss()(logits, target)
    torch.testing.assert_close(make_loss()(logits, target.bool()), expected)
    torch.testing.assert_close(make_loss()(logits, target.float().unsqueeze(1)), expected)
    with pytest.raises(PixelwiseError, match=r"binary target holds 0\.5"):
        make_loss()(logits, target.float() / 2)


def test_input_errors() -> None:
    logits, target = _random_batch(9)
    with pytest.raises(PixelwiseError, match=r"binary mode takes scores \(N, 1, H, W\)"):
        BinaryCrossEntropyLoss()(logits, target)
    with pytest.raises(PixelwiseError, match="multiclass mode takes scores"):
        DiceLoss()(logits[:, :1], target)
    with pytest.raises(PixelwiseError, match="target shape"):
        CrossEntropyLoss()(logits, target[:, :4])
    with pytest.raises(PixelwiseError, match=r"multiclass target holds 7"):
        FocalLoss(ignore_index=IGNORE)(logits, target.masked_fill(target == 1, 7))
    with pytest.raises(PixelwiseError, match="integer labels"):
        LovaszLoss()(logits, target.float())
    with pytest.raises(PixelwiseError, match="probabilities in"):
        BinaryCrossEntropyLoss(from_logits=False)(
            torch.full((1, 1, 1, 1), 2.0), torch.ones(1, 1, 1)
        )
    with pytest.raises(PixelwiseError, match="unknown mode 'binray'"):
        DiceLoss("binray")  # type: ignore[arg-type]
    with pytest.raises(PixelwiseError, match=r"classes \[4\]"):
        DiceLoss(classes=[4])(logits, target.clamp(max=3))
    with pytest.raises(PixelwiseError, match="unknown reduction"):
        FocalLoss(reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(PixelwiseError, match="beta"):
        BalancedBCELoss(beta=1.5)
    with pytest.raises(PixelwiseError, match="binary focal alpha"):
        FocalLoss("binary", alpha=[0.25, 0.75])


# --- focal ---


def test_focal_hand_computed_examples() -> None:
    # Binary, gamma 2, alpha 1/4, both pixels positive:
    #   logit 0 -> p_t = 1/2: -1/4 (1/2)^2 ln(1/2) = ln 2 / 16
    #   logit ln 3 -> p_t = 3/4: -1/4 (1/4)^2 ln(3/4) = ln(4/3) / 64
    logits = torch.tensor([0.0, math.log(3)]).view(1, 1, 1, 2)
    binary = FocalLoss("binary", gamma=2.0, alpha=0.25)(logits, torch.tensor([[[1, 1]]]))
    assert binary.item() == pytest.approx((LN2 / 16 + math.log(4 / 3) / 64) / 2)
    # Multiclass, logits (0, ln 3), target 1 -> p_t = 3/4: -(1/4)^2 ln(3/4) = ln(4/3) / 16
    logits = torch.tensor([0.0, math.log(3)]).view(1, 2, 1, 1)
    multiclass = FocalLoss(gamma=2.0)(logits, torch.tensor([[[1]]]))
    assert multiclass.item() == pytest.approx(math.log(4 / 3) / 16)


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    logits, target = _random_batch(10)
    focal = FocalLoss(gamma=0.0, ignore_index=IGNORE)(logits, target)
    torch.testing.assert_close(focal, F.cross_entropy(logits, target, ignore_index=IGNORE))
    # alpha scales the terms; the mean still divides by the number of pixels.
    alpha = torch.tensor([0.5, 1.0, 2.0, 3.0])
    weighted = FocalLoss(gamma=0.0, alpha=alpha, ignore_index=IGNORE)(logits, target)
    summed = F.cross_entropy(logits, target, alpha, ignore_index=IGNORE, reduction="sum")
    torch.testing.assert_close(weighted, summed / _valid(target).sum())

    logits, target = _binary_batch(10)
    focal = FocalLoss("binary", gamma=0.0, ignore_index=IGNORE)(logits, target)
    torch.testing.assert_close(focal, BinaryCrossEntropyLoss(ignore_index=IGNORE)(logits, target))


@pytest.mark.parametrize("mode", ["binary", "multiclass"])
def test_focal_matches_the_direct_formula(mode: str) -> None:
    logits, target = _binary_batch(11) if mode == "binary" else _random_batch(11)
    logits = logits.double()
    valid = _valid(target)
    t = target.masked_fill(~valid, 0)
    if mode == "binary":
        p1 = torch.sigmoid(logits[:, 0])
        p_t = torch.where(t == 1, p1, 1 - p1)
        alpha, alpha_t = 0.25, torch.where(t == 1, 0.25, 0.75)
    else:
        p_t = logits.softmax(dim=1).gather(1, t.unsqueeze(1))[:, 0]
        alpha = [1.0, 2.0, 0.5, 1.5]
        alpha_t = torch.tensor(alpha, dtype=torch.float64)[t]
    direct = -alpha_t * (1 - p_t) ** 1.5 * torch.log(p_t)
    loss = FocalLoss(mode, gamma=1.5, alpha=alpha, ignore_index=IGNORE)  # type: ignore[arg-type]
    torch.testing.assert_close(loss(logits, target), direct[valid].mean())


def test_focal_with_small_gamma_has_finite_gradients_when_confident() -> None:
    # (1 - p_t)^0.5 has an infinite derivative at p_t = 1, where a naive form gives NaN.
    logits = torch.tensor([[30.0, -30.0], [-30.0, 30.0]]).view(1, 2, 1, 2).requires_grad_()
    loss = FocalLoss(gamma=0.5)(logits, torch.tensor([[[0, 1]]]))
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


# --- Dice and Tversky ---


def test_dice_and_tversky_hand_computed_examples() -> None:
    # Binary probabilities p = (1, 1/2, 1/4, 0) against g = (1, 1, 0, 0):
    # TP = 3/2, FP = 1/4, FN = 1/2, sum p = 7/4, sum g = 2.
    p = torch.tensor([1.0, 0.5, 0.25, 0.0]).view(1, 1, 1, 4)
    g = torch.tensor([[[1, 1, 0, 0]]])
    # Dice, s = 0: 2 TP / (sum p + sum g) = 3 / (15/4) = 4/5.
    dice = DiceLoss("binary", from_logits=False, smooth=0.0)(p, g)
    assert dice.item() == pytest.approx(1 - 4 / 5)
    # Dice, s = 1: (3 + 1) / (15/4 + 1) = 16/19.
    dice = DiceLoss("binary", from_logits=False, smooth=1.0)(p, g)
    assert dice.item() == pytest.approx(1 - 16 / 19)
    # Tversky alpha 0.3, beta 0.7, s = 0: TP / (TP + 0.3 FP + 0.7 FN) = 1.5 / 1.925.
    tversky = TverskyLoss("binary", alpha=0.3, beta=0.7, smooth=0.0, from_logits=False)(p, g)
    assert tversky.item() == pytest.approx(1 - 1.5 / 1.925)


def _soft_counts(probs: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-class TP, FP, FN over (N, C, H, W) maps."""
    dims = (0, 2, 3)
    return (
        (probs * onehot).sum(dims),
        (probs * (1 - onehot)).sum(dims),
        ((1 - probs) * onehot).sum(dims),
    )


@pytest.mark.parametrize("smooth", [0.0, 1.0, 10.0])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_dice_matches_the_textbook_formula(smooth: float, layout: torch.memory_format) -> None:
    logits, target = _random_batch(12, c=5)
    target[target == 3] = 0  # class 3 absent from the batch: left out of the mean
    logits = logits.double().contiguous(memory_format=layout).requires_grad_()
    valid = _valid(target).unsqueeze(1).double()
    probs = logits.softmax(dim=1) * valid
    onehot = F.one_hot(target.clamp(max=4), 5).permute(0, 3, 1, 2).double() * valid
    dims = (0, 2, 3)
    intersection, cardinality = (probs * onehot).sum(dims), (probs + onehot).sum(dims)
    dice = (2 * intersection + smooth) / (cardinality + smooth)
    expected = 1 - dice[[0, 1, 2, 4]].mean()
    loss = DiceLoss(smooth=smooth, ignore_index=IGNORE)(logits, target)
    torch.testing.assert_close(loss, expected)
    (got,) = torch.autograd.grad(loss, logits, retain_graph=True)
    (textbook,) = torch.autograd.grad(expected, logits, retain_graph=True)
    torch.testing.assert_close(got, textbook)
    # classes restricts the mean further, e.g. to the foreground classes.
    only = DiceLoss(smooth=smooth, ignore_index=IGNORE, classes=[1, 2, 3])(logits, target)
    torch.testing.assert_close(only, 1 - dice[[1, 2]].mean())


def test_dice_on_hard_predictions_is_one_minus_macro_f1() -> None:
    logits, target = _random_batch(13)
    valid = _valid(target)
    predicted = logits.argmax(dim=1)
    onehot = F.one_hot(predicted, 4).permute(0, 3, 1, 2).float()
    loss = DiceLoss(from_logits=False, smooth=0.0, ignore_index=IGNORE)(onehot, target)
    y_true, y_pred = target[valid].numpy(), predicted[valid].numpy()
    f1 = f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro")
    assert loss.item() == pytest.approx(1 - f1)


@pytest.mark.parametrize("alpha, beta", [(0.3, 0.7), (0.8, 0.2), (1.0, 1.0)])
def test_tversky_matches_the_paper_formula(alpha: float, beta: float) -> None:
    logits, target = _random_batch(14)
    logits = logits.double()
    valid = _valid(target).unsqueeze(1).double()
    probs = logits.softmax(dim=1) * valid
    onehot = F.one_hot(target.clamp(max=3), 4).permute(0, 3, 1, 2).double() * valid
    tp, fp, fn = _soft_counts(probs, onehot)
    expected = 1 - (tp / (tp + alpha * fp + beta * fn)).mean()
    loss = TverskyLoss(alpha=alpha, beta=beta, smooth=0.0, ignore_index=IGNORE)
    torch.testing.assert_close(loss(logits, target), expected)


@pytest.mark.parametrize("mode", ["binary", "multiclass"])
@pytest.mark.parametrize("smooth", [None, 0.0, 3.0])
def test_tversky_with_equal_weights_is_dice(mode: str, smooth: float | None) -> None:
    logits, target = _binary_batch(15) if mode == "binary" else _random_batch(15)
    options = {} if smooth is None else {"smooth": smooth}
    tversky = TverskyLoss(mode, **options, ignore_index=IGNORE)(logits, target)  # type: ignore[arg-type]
    dice = DiceLoss(mode, **options, ignore_index=IGNORE)(logits, target)  # type: ignore[arg-type]
    torch.testing.assert_close(tversky, dice)
    assert dice.item() > 0


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_empty_target(smooth: float) -> None:
    empty = torch.zeros(1, 2, 2, dtype=torch.long)
    # Binary: empty target and empty prediction match perfectly, whatever the smoothing.
    nothing = torch.zeros(1, 1, 2, 2)
    assert DiceLoss("binary", from_logits=False, smooth=smooth)(nothing, empty).item() == 0.0
    # Predicted foreground on an empty target costs 1 - s / (FP + s); FP = 1/2 here.
    some = torch.tensor([0.5, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)
    loss = DiceLoss("binary", from_logits=False, smooth=smooth)(some, empty)
    assert loss.item() == pytest.approx(1 - smooth / (0.5 + smooth))


def test_multiclass_dice_skips_classes_absent_from_the_batch() -> None:
    # Class 2 is predicted but absent from the target: only classes 0 and 1 count,
    # each with Dice (2 TP + s) / (sum p + sum g + s), s = 1.
    probs = torch.tensor([[1.0, 0.0], [0.0, 0.5], [0.0, 0.5]]).view(1, 3, 1, 2)
    target = torch.tensor([[[0, 1]]])
    # class 0: TP 1, sum p 1, sum g 1 -> 3/3; class 1: TP 1/2, sum p 1/2, sum g 1 -> 2/2.5.
    loss = DiceLoss(from_logits=False)(probs, target)
    assert loss.item() == pytest.approx(1 - (1 + 2 / 2.5) / 2)


# --- Lovász ---


def _jaccard_loss_of_set(wrong: set[int], truth: set[int]) -> float:
    """Jaccard loss 1 - |G \\ M| / |G ∪ M| of a class when exactly the pixels M are wrong."""
    union = truth | wrong
    return 1 - len(truth - wrong) / len(union) if union else 0.0


def _lovasz_by_thresholds(errors: list[float], truth: set[int]) -> float:
    """Lovász extension as the integral over t >= 0 of Δ({i : errors[i] >= t}) dt."""
    levels = sorted({*errors, 0.0}, reverse=True)
    return sum(
        (upper - lower)
        * _jaccard_loss_of_set({i for i, m in enumerate(errors) if m >= upper}, truth)
        for upper, lower in pairwise(levels)
    )


def test_lovasz_hand_computed_examples() -> None:
    # Hinge: logits (2, -1, 1/2, -3), labels (1, 1, 0, 0): errors 1 - x(2y - 1) =
    # (-1, 2, 3/2, -2). In decreasing order the pixels are 1, 2, 0, 3 with Jaccard losses
    # of the growing wrong sets 1/2, 2/3, 1, 1, so increments 1/2, 1/6, 1/3, 0 and
    # loss = 2·1/2 + 3/2·1/6 + relu(-1)·1/3 = 5/4.
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0]).view(1, 1, 1, 4)
    hinge = LovaszLoss("binary")(logits, torch.tensor([[[1, 1, 0, 0]]]))
    assert hinge.item() == pytest.approx(1.25)
    # Softmax: labels (0, 0, 1, 1), class-1 probabilities (1/4, 1/2, 3/4, 1/2), so both
    # classes have errors (1/4, 1/2, 1/4, 1/2). Per class:
    # (1/2 - 1/4)·Δ({1, 3}) + (1/4 - 0)·Δ(all) = 1/4·2/3 + 1/4·1 = 5/12.
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [-math.log(3), 0.0, math.log(3), 0.0]])
    softmax = LovaszLoss()(logits.view(1, 2, 1, 4), torch.tensor([[[0, 0, 1, 1]]]))
    assert softmax.item() == pytest.approx(5 / 12)


def test_lovasz_softmax_matches_the_set_function_definition() -> None:
    logits, target = _random_batch(16, c=3)
    logits = logits[:, :, :3, :3].double()
    target = target[:, :3, :3]
    target[target == 2] = 0  # class 2 absent: left out of the mean
    valid = _valid(target).flatten()
    probs = logits.softmax(dim=1).permute(0, 2, 3, 1).reshape(-1, 3)[valid]
    labels = target.flatten()[valid].tolist()
    expected = []
    for c in (0, 1):
        truth = {i for i, label in enumerate(labels) if label == c}
        errors = [abs(float(i in truth) - p) for i, p in enumerate(probs[:, c].tolist())]
        expected.append(_lovasz_by_thresholds(errors, truth))
    loss = LovaszLoss(ignore_index=IGNORE)(logits, target)
    assert loss.item() == pytest.approx(sum(expected) / 2, rel=1e-12)


def test_lovasz_hinge_matches_the_set_function_definition() -> None:
    logits, target = _binary_batch(17)
    logits = logits.double()
    valid = _valid(target).flatten()
    x = logits.flatten()[valid].tolist()
    labels = target.flatten()[valid].tolist()
    errors = [max(0.0, 1 - xi * (2 * yi - 1)) for xi, yi in zip(x, labels, strict=True)]
    truth = {i for i, label in enumerate(labels) if label == 1}
    loss = LovaszLoss("binary", ignore_index=IGNORE)(logits, target)
    assert loss.item() == pytest.approx(_lovasz_by_thresholds(errors, truth), rel=1e-12)


# --- build_loss and specs ---


def test_parse_loss_spec() -> None:
    assert parse_loss_spec("ce") == [(1.0, "ce")]
    assert parse_loss_spec("ce+0.5*dice") == [(1.0, "ce"), (0.5, "dice")]
    assert parse_loss_spec(" 2 * lovasz + 1e-1*focal ") == [(2.0, "lovasz"), (0.1, "focal")]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("dice2", r"unknown loss 'dice2' in loss spec 'dice2'; valid names: ce, .*lovasz"),
        ("ce+dcie", r"unknown loss 'dcie' in loss spec 'ce\+dcie'; valid names: ce"),
        ("ce+", r"loss spec 'ce\+' has an empty term"),
        ("", "has an empty term"),
        ("x*dice", r"loss term 'x\*dice' in 'x\*dice': weight 'x' is not a positive number"),
        ("ce+-1*dice", "weight '-1' is not a positive number"),
        ("0*dice", "weight '0' is not a positive number"),
        ("nan*dice", "weight 'nan' is not a positive number"),
    ],
)
def test_bad_loss_specs(spec: str, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        build_loss(spec, num_classes=3, ignore_index=IGNORE)


def test_every_name_builds_a_loss() -> None:
    logits, target = _random_batch(18, c=2)
    for name in LOSS_NAMES:
        loss = build_loss(name, num_classes=2, ignore_index=IGNORE)(logits, target)
        assert loss.ndim == 0 and loss.item() > 0, name


def test_build_loss() -> None:
    logits, target = _random_batch(2, c=3)
    loss = build_loss("ce", num_classes=3, ignore_index=IGNORE, class_weights=[1.0, 2.0, 3.0])
    assert isinstance(loss, CrossEntropyLoss)
    expected = F.cross_entropy(
        logits, target, weight=torch.tensor([1.0, 2.0, 3.0]), ignore_index=IGNORE
    )
    torch.testing.assert_close(loss(logits, target), expected)


def test_weighted_sum() -> None:
    logits, target = _random_batch(19)
    total = build_loss("ce+0.5*dice", num_classes=4, ignore_index=IGNORE)
    assert isinstance(total, WeightedSum)
    ce = F.cross_entropy(logits, target, ignore_index=IGNORE)
    dice = DiceLoss(ignore_index=IGNORE)(logits, target)
    torch.testing.assert_close(total(logits, target), ce + 0.5 * dice)
    scaled = build_loss("3*lovasz", num_classes=4, ignore_index=IGNORE)(logits, target)
    torch.testing.assert_close(scaled, 3 * LovaszLoss(ignore_index=IGNORE)(logits, target))


@pytest.mark.parametrize(
    ("dtype", "layout"),
    [(torch.float32, torch.contiguous_format), (torch.bfloat16, torch.channels_last)],
)
def test_weighted_sum_reads_its_inputs_once_for_all_terms(
    dtype: torch.dtype, layout: torch.memory_format, monkeypatch: pytest.MonkeyPatch
) -> None:
    logits, target = _random_batch(21)
    logits = logits.to(dtype).contiguous(memory_format=layout)
    logits[:, :, 0, 0] = float("nan")  # ignored pixels may hold anything
    target[:, 0, 0] = IGNORE
    total = build_loss("ce+0.5*dice+focal", num_classes=4, ignore_index=IGNORE)
    reads = []
    counted = losses_inputs.read_inputs

    def counting(*args: object) -> losses_inputs.LossInputs:
        reads.append(args)
        return counted(*args)

    monkeypatch.setattr(losses_build, "read_inputs", counting)
    shared, alone = (logits.clone().requires_grad_() for _ in range(2))
    got = total(shared, target)
    assert len(reads) == 1
    terms = [(1.0, CrossEntropyLoss), (0.5, DiceLoss), (1.0, FocalLoss)]
    expected = sum(w * make(ignore_index=IGNORE)(alone, target) for w, make in terms)
    torch.testing.assert_close(got, expected)
    got.backward()
    expected.backward()
    torch.testing.assert_close(shared.grad, alone.grad)
    assert shared.grad.dtype == dtype and torch.all(shared.grad[:, :, 0, 0] == 0)


def test_weighted_sum_of_terms_that_read_differently() -> None:
    logits, target = _random_batch(22, c=2)
    margin_and_ce = WeightedSum([(1.0, build_loss("bce", 2, IGNORE)), (2.0, CrossEntropyLoss())])
    assert margin_and_ce.shared_reading() is None
    ce = F.cross_entropy(logits, target, ignore_index=IGNORE)
    # bce on the margin is the two-class cross-entropy; CrossEntropyLoss() ignores 255 too.
    torch.testing.assert_close(margin_and_ce(logits, target), 3 * ce)
    other_ignore = WeightedSum([(1.0, DiceLoss(ignore_index=IGNORE)), (1.0, DiceLoss())])
    assert other_ignore.shared_reading() is None


def test_prepared_scores_are_float32_and_contiguous() -> None:
    logits, target = _random_batch(23)
    for dtype in (torch.float32, torch.bfloat16):
        scores = logits.to(dtype).contiguous(memory_format=torch.channels_last)
        inputs = losses_inputs.read_inputs("multiclass", scores, target, IGNORE)
        assert inputs.scores.dtype == torch.float32 and inputs.scores.is_contiguous()
        assert torch.all(inputs.scores.permute(0, 2, 3, 1)[~inputs.labels.valid] == 0)
    as_given = logits.contiguous()
    assert losses_inputs.widen(as_given) is as_given  # nothing to copy


def test_binary_losses_on_two_classes_use_the_logit_margin() -> None:
    logits, target = _random_batch(20, c=2)
    bce = build_loss("bce", num_classes=2, ignore_index=IGNORE)
    assert isinstance(bce, TwoClassMargin)
    # sigmoid(z1 - z0) is softmax(z)_1, so BCE on the margin is the two-class cross-entropy.
    ce = F.cross_entropy(logits, target, ignore_index=IGNORE)
    torch.testing.assert_close(bce(logits, target), ce)
    balanced = build_loss("balanced_bce", num_classes=2, ignore_index=IGNORE)(logits, target)
    margin = logits[:, 1:] - logits[:, :1]
    torch.testing.assert_close(balanced, BalancedBCELoss(ignore_index=IGNORE)(margin, target))
    one_channel = build_loss("bce", num_classes=1, ignore_index=IGNORE)
    assert isinstance(one_channel, BinaryCrossEntropyLoss)
    with pytest.raises(PixelwiseError, match=r"loss 'bce' is binary.*got 3"):
        build_loss("ce+bce", num_classes=3, ignore_index=IGNORE)


def test_class_weights_in_build_loss() -> None:
    logits, target = _random_batch(21, c=3)
    weights = [1.0, 2.0, 0.5]
    focal = build_loss("focal", num_classes=3, ignore_index=IGNORE, class_weights=weights)
    expected = FocalLoss(alpha=weights, ignore_index=IGNORE)(logits, target)
    torch.testing.assert_close(focal(logits, target), expected)
    assert focal(logits, target) != FocalLoss(ignore_index=IGNORE)(logits, target)
    build_loss("ce+dice", num_classes=3, ignore_index=IGNORE, class_weights=weights)
    with pytest.raises(PixelwiseError, match="class weights apply to the losses ce, focal"):
        build_loss("dice+lovasz", num_classes=3, ignore_index=IGNORE, class_weights=weights)
    with pytest.raises(PixelwiseError, match="class_weights has 2 entries"):
        build_loss("ce", num_classes=3, ignore_index=IGNORE, class_weights=[1.0, 2.0])
    with pytest.raises(PixelwiseError, match="finite and >= 0"):
        build_loss("ce", num_classes=3, ignore_index=IGNORE, class_weights=[1.0, -2.0, 1.0])
    with pytest.raises(PixelwiseError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)


def test_loss_flag_sets_the_run_configuration(tmp_path) -> None:
    config_file = tmp_path / "run.yaml"
    config_file.write_text("train:\n  loss: ce+0.5*dice\n")
    from_yaml = run_config(build_parser().parse_args(["train", "--config", str(config_file)]))
    assert from_yaml.train.loss == "ce+0.5*dice"
    argv = ["train", "--config", str(config_file), "--loss", "focal+lovasz"]
    assert run_config(build_parser().parse_args(argv)).train.loss == "focal+lovasz"

"""CrossEntropyLoss and build_loss: agreement with PyTorch, ignored pixels, edge cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.losses import CrossEntropyLoss, build_loss

IGNORE = 255


def _random_batch(seed: int, c: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (2, c, 8, 6) and a target (2, 8, 6) with about 20% ignored pixels."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, c, 8, 6, generator=g)
    target = torch.randint(0, c, (2, 8, 6), generator=g)
    target[torch.rand(2, 8, 6, generator=g) < 0.2] = IGNORE
    return logits, target


@pytest.mark.parametrize("weight", [None, [0.5, 1.0, 2.0, 3.0]])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_matches_torch_cross_entropy(weight: list[float] | None, label_smoothing: float) -> None:
    logits, target = _random_batch(0)
    loss = CrossEntropyLoss(weight, ignore_index=IGNORE, label_smoothing=label_smoothing)
    expected = F.cross_entropy(
        logits,
        target,
        weight=None if weight is None else torch.tensor(weight),
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
    )
    torch.testing.assert_close(loss(logits, target), expected)


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


def test_ignored_pixels_have_no_influence() -> None:
    logits, target = _random_batch(1)
    ignored = (target == IGNORE).unsqueeze(1).expand_as(logits)
    loss_fn = CrossEntropyLoss([1.0, 2.0, 1.0, 0.5])

    x = logits.clone().requires_grad_()
    loss = loss_fn(x, target)
    loss.backward()
    assert x.grad is not None
    assert torch.all(x.grad[ignored] == 0)
    assert torch.isfinite(x.grad).all()
    assert x.grad[~ignored].abs().sum() > 0

    changed = logits.masked_fill(ignored, 1e3)
    torch.testing.assert_close(loss_fn(changed, target), loss)


def test_all_ignored_gives_attached_zero() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), IGNORE)
    for weight in (None, [1.0, 2.0, 3.0]):
        loss = CrossEntropyLoss(weight)(logits, target)
        assert loss.item() == 0.0
        assert loss.grad_fn is not None
        loss.backward()
        assert logits.grad is not None and torch.all(logits.grad == 0)


def test_weight_is_a_buffer() -> None:
    loss = CrossEntropyLoss([1.0, 2.0])
    assert "weight" in dict(loss.named_buffers())
    assert "weight" in loss.state_dict()
    assert loss.to(torch.float64).weight.dtype == torch.float64
    assert CrossEntropyLoss().weight is None


def test_build_loss() -> None:
    logits, target = _random_batch(2, c=3)
    loss = build_loss("ce", num_classes=3, ignore_index=IGNORE, class_weights=[1.0, 2.0, 3.0])
    assert isinstance(loss, CrossEntropyLoss)
    expected = F.cross_entropy(
        logits, target, weight=torch.tensor([1.0, 2.0, 3.0]), ignore_index=IGNORE
    )
    torch.testing.assert_close(loss(logits, target), expected)


def test_build_loss_errors() -> None:
    with pytest.raises(PixelwiseError, match=r"unknown loss 'dice2'.*ce"):
        build_loss("dice2", num_classes=3, ignore_index=IGNORE)
    with pytest.raises(PixelwiseError, match="class_weights has 2 entries"):
        build_loss("ce", num_classes=3, ignore_index=IGNORE, class_weights=[1.0, 2.0])
    with pytest.raises(PixelwiseError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)

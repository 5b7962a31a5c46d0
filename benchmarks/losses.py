"""CPU time of the ``camvid-cpu`` training loss, forward and backward, beside its direct form.

    python benchmarks/losses.py [--repeats 15] [--out FILE]

One batch as the recipe trains it: logits (8, 11, 176, 240) and labels with about 5% of
the pixels at the ignore index (as CamVid's void), or none. The loss is the recipe's
``ce+dice`` with class weights, ``build_loss("ce+dice", 11, 255, weights)``; the
**direct** form computes the same value the textbook way: ``F.cross_entropy`` on the
logits (ignored pixels zeroed by ``masked_fill``) and the Dice counts from one-hot maps,
as pixelwise did before its losses gathered instead. Both are checked equal (value and
gradient) before timing. Logits come in float32 contiguous, float32 channels-last, and
bfloat16 channels-last (as a bfloat16 network gives them). Runs are interleaved after a
warm-up; each time is the median over runs in ms, and the ratio direct / pixelwise is
the median of adjacent runs' ratios. The process keeps freed memory, as the
``pixelwise`` command does. Prints a table and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from results import save_results

from pixelwise.allocator import keep_freed_memory
from pixelwise.losses import build_loss

CLASSES, IGNORE, LOSS = 11, 255, "ce+dice"
SHAPE = (8, CLASSES, 176, 240)
DEFAULT_OUT = Path(__file__).parent / "results" / "losses.json"
LAYOUTS = {
    "float32": (torch.float32, torch.contiguous_format),
    "float32 channels-last": (torch.float32, torch.channels_last),
    "bfloat16 channels-last": (torch.bfloat16, torch.channels_last),
}
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def direct_ce_dice(weights: torch.Tensor) -> Loss:
    """``ce+dice`` written directly: ``F.cross_entropy`` and one-hot Dice counts."""

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = (target != IGNORE).unsqueeze(1)
        scores = logits.masked_fill(~valid, 0).float()
        ce = F.cross_entropy(scores, target, weights, ignore_index=IGNORE)
        keep = valid.to(scores.dtype)
        probs = scores.softmax(dim=1) * keep
        labels = target.masked_fill(~valid[:, 0], 0)
        onehot = F.one_hot(labels, CLASSES).permute(0, 3, 1, 2).to(scores.dtype) * keep
        tp, support = (probs * onehot).sum((0, 2, 3)), onehot.sum((0, 2, 3))
        fp, fn = probs.sum((0, 2, 3)) - tp, support - tp
        dice = (2 * tp + 1) / (2 * tp + fp + fn + 1)
        present = (support > 0).to(dice.dtype)
        return ce + ((1 - dice) * present).sum() / present.sum()

    return loss


def batch(ignored: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded float32 logits ``SHAPE`` and labels with ``ignored`` of them at ``IGNORE``."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(SHAPE, generator=g)
    target = torch.randint(0, CLASSES, (SHAPE[0], *SHAPE[2:]), generator=g)
    target[torch.rand(target.shape, generator=g) < ignored] = IGNORE
    return logits, target


def forward_backward(loss: Loss, logits: torch.Tensor, target: torch.Tensor) -> float:
    """Seconds of one forward and backward pass of ``loss``."""
    x = logits.detach().requires_grad_()
    started = time.perf_counter()
    loss(x, target).backward()
    return time.perf_counter() - started


def check_equal(ours: Loss, direct: Loss, logits: torch.Tensor, target: torch.Tensor) -> None:
    """Both losses give the same value and gradient on ``logits``."""
    results = []
    for loss in (ours, direct):
        x = logits.detach().requires_grad_()
        value = loss(x, target)
        value.backward()
        results.append((value, x.grad))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got.float(), expected.float(), rtol=1e-4, atol=1e-6)


def measure(ours: Loss, direct: Loss, logits: torch.Tensor, target: torch.Tensor,
            repeats: int) -> dict[str, float]:  # fmt: skip
    """Median ms of each, interleaved in alternating order, and the median ratio."""
    check_equal(ours, direct, logits, target)
    times: dict[str, list[float]] = {"pixelwise": [], "direct": []}
    for index in range(repeats + 1):
        order = [("pixelwise", ours), ("direct", direct)][:: 1 if index % 2 else -1]
        for name, loss in order:
            seconds = forward_backward(loss, logits, target)
            if index:  # the first round warms up
                times[name].append(seconds)
    ratios = [d / p for d, p in zip(times["direct"], times["pixelwise"], strict=True)]
    return {**{f"{name}_ms": 1000 * statistics.median(t) for name, t in times.items()},
            "direct_over_pixelwise": statistics.median(ratios)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    keep_freed_memory()
    weights = torch.linspace(0.5, 2.0, CLASSES)
    ours = build_loss(LOSS, CLASSES, IGNORE, weights.tolist())
    direct = direct_ce_dice(weights)
    rows = []
    header = f"{'logits':<24} {'ignored':>7} {'pixelwise ms':>12} {'direct ms':>9} {'speed-up':>8}"
    print(header + "\n" + "-" * len(header))
    for ignored in (0.05, 0.0):
        logits, target = batch(ignored)
        for name, (dtype, layout) in LAYOUTS.items():
            x = logits.to(dtype).contiguous(memory_format=layout)
            row = {"logits": name, "ignored": ignored,
                   **measure(ours, direct, x, target, args.repeats)}  # fmt: skip
            rows.append(row)
            print(f"{name:<24} {ignored:>7.0%} {row['pixelwise_ms']:>12.1f} "
                  f"{row['direct_ms']:>9.1f} {row['direct_over_pixelwise']:>7.2f}x",
                  flush=True)  # fmt: skip
    save_results(args.out, {"loss": LOSS, "shape": list(SHAPE), "rows": rows})


if __name__ == "__main__":
    main()

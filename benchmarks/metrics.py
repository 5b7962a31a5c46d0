"""CPU throughput of ConfusionMatrix.update beside torchmetrics' MulticlassConfusionMatrix.

    python benchmarks/metrics.py [--batch 8] [--size 512] [--repeats 15] [--out FILE]

One batch of N×S×S pixels, 21 classes, about 10% of the target pixels at the ignore
index 255, given to ``update`` in two forms: integer labels (int64 (N, S, S)) and
float32 logits (N, 21, S, S), which ``update`` reduces by argmax. For each form, our
``ConfusionMatrix`` and torchmetrics' ``MulticlassConfusionMatrix(num_classes=21,
ignore_index=255)`` are timed in the same run, the latter as constructed so (its
default argument checks) and with ``validate_args=False``. Runs are interleaved, in
alternating order, after one warm-up run each; throughput is the median over runs in
Mpixel/s. A ratio is ours over theirs in speed (> 1: we are faster), the median over
runs of the ratio of two adjacent runs' times, which cancels slow drifts in the
machine's load. Before timing, every matrix is checked equal to ours.
Prints a table and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchmetrics
from results import save_results
from torchmetrics.classification import MulticlassConfusionMatrix

from pixelwise.metrics import ConfusionMatrix

NUM_CLASSES = 21
IGNORE_INDEX = 255
DEFAULT_OUT = Path(__file__).parent / "results" / "metrics.json"
# name -> a fresh accumulator with update(pred, target)
CONTESTANTS: dict[str, Callable[[], object]] = {
    "ours": lambda: ConfusionMatrix(NUM_CLASSES, IGNORE_INDEX),
    "torchmetrics": lambda: MulticlassConfusionMatrix(
        num_classes=NUM_CLASSES, ignore_index=IGNORE_INDEX
    ),
    "torchmetrics_unchecked": lambda: MulticlassConfusionMatrix(
        num_classes=NUM_CLASSES, ignore_index=IGNORE_INDEX, validate_args=False
    ),
}


def make_inputs(batch: int, size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Seeded (pred, target) pairs: int64 labels and float32 logits, one target."""
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, NUM_CLASSES, (batch, size, size), generator=g)
    target[torch.rand(batch, size, size, generator=g) < 0.1] = IGNORE_INDEX
    labels = torch.randint(0, NUM_CLASSES, (batch, size, size), generator=g)
    logits = torch.randn(batch, NUM_CLASSES, size, size, generator=g)
    return {"labels int64": (labels, target), "logits float32": (logits, target)}


def check_equal(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Every contestant's matrix after one update equals ours, count for count."""
    ours = ConfusionMatrix(NUM_CLASSES, IGNORE_INDEX)
    ours.update(pred, target)
    for name, make in CONTESTANTS.items():
        if name != "ours":
            theirs = make()
            theirs.update(pred, target)
            if not torch.equal(theirs.compute(), ours.matrix):
                raise AssertionError(f"{name}'s confusion matrix differs from ours")


def run_once(metric: object, pred: torch.Tensor, target: torch.Tensor) -> float:
    """Seconds for one ``update``."""
    started = time.perf_counter()
    metric.update(pred, target)
    return time.perf_counter() - started


def time_updates(pred: torch.Tensor, target: torch.Tensor, repeats: int) -> dict[str, list[float]]:
    """Seconds per update, ``repeats`` runs of each contestant.

    Runs are interleaved across contestants, in alternating order (ABC CBA ...), so that
    none always runs first and the i-th runs of all lie close in time.
    """
    metrics = {name: make() for name, make in CONTESTANTS.items()}
    times: dict[str, list[float]] = {name: [] for name in metrics}
    order = list(metrics)
    for metric in metrics.values():
        run_once(metric, pred, target)
    for _ in range(repeats):
        for name in order:
            times[name].append(run_once(metrics[name], pred, target))
        order.reverse()
    return times


def benchmark_input(name: str, pred: torch.Tensor, target: torch.Tensor, repeats: int) -> dict:
    """One table row: Mpixel/s of each contestant and our speed ratios."""
    check_equal(pred, target)
    times = time_updates(pred, target, repeats)
    megapixels = target.numel() / 1e6
    row: dict = {"input": name}
    for contestant, seconds in times.items():
        row[f"{contestant}_mpixel_s"] = megapixels / statistics.median(seconds)
        if contestant != "ours":
            row[f"ratio_vs_{contestant}"] = statistics.median(
                theirs / ours for ours, theirs in zip(times["ours"], seconds, strict=True)
            )
    return row


def format_table(rows: list[dict]) -> str:
    lines = [
        f"{'input':<16}{'ours':>9}{'tm':>9}{'ratio':>8}{'tm unchecked':>14}{'ratio':>8}"
        "   (Mpixel/s; ratio = our speed / theirs)"
    ]
    for row in rows:
        lines.append(
            f"{row['input']:<16}{row['ours_mpixel_s']:>9.1f}{row['torchmetrics_mpixel_s']:>9.1f}"
            f"{row['ratio_vs_torchmetrics']:>8.2f}{row['torchmetrics_unchecked_mpixel_s']:>14.1f}"
            f"{row['ratio_vs_torchmetrics_unchecked']:>8.2f}"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument("--size", type=int, default=512, help="image side (default 512)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per contestant")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    inputs = make_inputs(args.batch, args.size)
    rows = [benchmark_input(name, *pair, args.repeats) for name, pair in inputs.items()]
    print(format_table(rows))
    payload = {
        "batch": [args.batch, args.size, args.size],
        "num_classes": NUM_CLASSES,
        "repeats": args.repeats,
        "torchmetrics": torchmetrics.__version__,
        "rows": rows,
    }
    save_results(args.out, payload)


if __name__ == "__main__":
    main()

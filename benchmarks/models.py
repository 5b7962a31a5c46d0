"""Parameters, MACs and CPU latency of every registered model, plus torchvision ratios.

    python benchmarks/models.py [--size 512] [--repeats 3] [--models fcn8s,unet] [--out FILE]

Each model is built with its default options for 21 classes and timed in eval mode
under ``torch.inference_mode`` on a 1×3×S×S input: one warm-up run, then the median
of ``--repeats`` runs. When torchvision is importable, its ``deeplabv3_resnet50``
and ``lraspp_mobilenet_v3_large`` are timed in the same run, interleaved run by run
with ours and loaded with the same weights, and reported as ratios ours/torchvision
(≤ 1 means we are no slower): the median over at least 12 run pairs of the
ratio of two adjacent runs, which cancels slow drifts in the machine's load.
Prints a table and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from results import save_results
from torch import nn
from tqdm import tqdm

from pixelwise.models import build_model, list_models
from pixelwise.models.summary import summary

NUM_CLASSES = 21
# ratios use at least this many run pairs: the machine's noise is larger than the effect
PAIR_REPEATS = 12
DEFAULT_OUT = Path(__file__).parent / "results" / "models.json"
# our registry name -> the builder of its twin in torchvision.models.segmentation
TORCHVISION_PAIRS = {
    "deeplabv3": "deeplabv3_resnet50",
    "lraspp": "lraspp_mobilenet_v3_large",
}


def run_once(model: nn.Module, x: torch.Tensor) -> float:
    """Seconds for one forward pass of ``x`` (1, 3, S, S)."""
    started = time.perf_counter()
    model(x)
    return time.perf_counter() - started


def time_models(
    models: dict[str, nn.Module], x: torch.Tensor, repeats: int
) -> dict[str, list[float]]:
    """Seconds per forward, ``repeats`` runs of each model.

    Runs are interleaved across models, in alternating order (ABBA...), so that neither
    model always runs first and the i-th runs of all models lie close in time.
    """
    times: dict[str, list[float]] = {name: [] for name in models}
    order = list(models)
    with torch.inference_mode():
        for model in models.values():
            run_once(model, x)
        for _ in range(repeats):
            for name in order:
                times[name].append(run_once(models[name], x))
            order.reverse()
    return times


def torchvision_twin(name: str) -> Callable[[], nn.Module] | None:
    """A builder of torchvision's counterpart of ``name``, or None without torchvision."""
    try:
        from torchvision.models import segmentation
    except ImportError:
        return None
    builder = getattr(segmentation, TORCHVISION_PAIRS[name])
    return lambda: builder(weights=None, weights_backbone=None, num_classes=NUM_CLASSES)


def with_same_weights(name: str, reference: nn.Module) -> nn.Module:
    """Our model ``name`` loaded with ``reference``'s (torchvision) weights."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.pth"
        torch.save(reference.state_dict(), path)
        return build_model(name, NUM_CLASSES, weights=path).eval()


class TorchvisionOutput(nn.Module):
    """torchvision's segmentation models return a dict; time them as plain modules."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def benchmark_model(name: str, size: int, repeats: int) -> dict:
    """One table row: parameters, MACs and latency; torchvision's ratio where it has a twin."""
    torch.manual_seed(0)
    model = build_model(name, NUM_CLASSES).eval()
    x = torch.randn(1, 3, size, size)
    report = summary(model, (size, size))
    row = {"model": name, "parameters": report.parameters, "gmacs": report.macs / 1e9}
    twin = torchvision_twin(name) if name in TORCHVISION_PAIRS else None
    if twin is None:
        row["latency_s"] = statistics.median(time_models({name: model}, x, repeats)[name])
        return row
    reference = twin().eval()
    ours = with_same_weights(name, reference)
    times = time_models(
        {"ours": ours, "torchvision": TorchvisionOutput(reference)}, x, max(repeats, PAIR_REPEATS)
    )
    row["latency_s"] = statistics.median(times["ours"])
    row["torchvision_latency_s"] = statistics.median(times["torchvision"])
    row["ratio_vs_torchvision"] = statistics.median(
        a / b for a, b in zip(times["ours"], times["torchvision"], strict=True)
    )
    return row


def format_table(rows: list[dict]) -> str:
    lines = [f"{'model':<14}{'params (M)':>12}{'GMACs':>10}{'latency (s)':>13}{'vs tv':>8}"]
    for row in rows:
        ratio = row.get("ratio_vs_torchvision")
        lines.append(
            f"{row['model']:<14}{row['parameters'] / 1e6:>12.2f}{row['gmacs']:>10.1f}"
            f"{row['latency_s']:>13.3f}{f'{ratio:.3f}' if ratio else '-':>8}"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="input side (default 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per model")
    parser.add_argument("--models", help="comma-separated names (default: all registered)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    names = args.models.split(",") if args.models else list(list_models())
    rows = [benchmark_model(name, args.size, args.repeats) for name in tqdm(names, unit="model")]
    print(format_table(rows))
    save_results(
        args.out, {"input": [1, 3, args.size, args.size], "repeats": args.repeats, "rows": rows}
    )


if __name__ == "__main__":
    main()

"""CPU time of one optimiser step: PyTorch's fused step against its loop over parameters.

    python benchmarks/optimizers.py [--repeats 30] [--out FILE]

For the networks of ``benchmarks/training.py`` (11 classes): the parameters get seeded
gradients, and each optimiser (``adamw`` and ``sgd`` as :func:`build_optimizer` makes
them, learning rate 0.003, weight decay 1e-4) steps with ``fused=True`` (what pixelwise
takes where PyTorch has it) and with ``fused=False, foreach=False`` (PyTorch's default
on the CPU: a loop over the parameter tensors). The two are checked to give the same
parameters after three steps (up to float rounding) before timing. Steps alternate
between the two after a warm-up; each time is the median over steps in ms. The process
keeps freed memory, as the ``pixelwise`` command does. Prints a table and writes JSON
(atomically).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from results import save_results

from pixelwise.allocator import keep_freed_memory
from pixelwise.engine.optim import build_optimizer
from pixelwise.models import build_model

CLASSES, LR, WEIGHT_DECAY = 11, 0.003, 1e-4
DEFAULT_OUT = Path(__file__).parent / "results" / "optimizers.json"
MODELS = {
    "U-Net (camvid-cpu)": ("unet", {"base_width": 16, "depth": 4}),
    "LR-ASPP (MobileNetV3-Large)": ("lraspp", {}),
    "DeepLabV3+ (ResNet-18)": ("deeplabv3plus", {"encoder": "resnet18"}),
    "SegNet-Basic": ("segnet_basic", {}),
}


def network_with_gradients(name: str, options: dict) -> torch.nn.Module:
    """The network ``name`` with seeded weights and gradients."""
    torch.manual_seed(0)
    model = build_model(name, CLASSES, **options)
    for parameter in model.parameters():
        parameter.grad = torch.randn_like(parameter) * 1e-3
    return model


def optimiser(name: str, model: torch.nn.Module, fused: bool) -> torch.optim.Optimizer:
    """``build_optimizer``'s optimiser over ``model``, fused or looping over tensors."""
    made = build_optimizer(name, [{"params": list(model.parameters())}], LR, WEIGHT_DECAY)
    for group in made.param_groups:
        group.update(fused=fused, foreach=False)
    return made


def check_equal(name: str, network: tuple[str, dict]) -> None:
    """Three fused steps leave the same parameters as three looped ones."""
    results = []
    for fused in (True, False):
        model = network_with_gradients(*network)
        step = optimiser(name, model, fused).step
        for _ in range(3):
            step()
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(*results, rtol=1e-5, atol=1e-6)


def measure(name: str, network: tuple[str, dict], repeats: int) -> dict[str, float]:
    """Median ms of a fused and a looped step, alternating after one warm-up round."""
    check_equal(name, network)
    steps = {
        label: optimiser(name, network_with_gradients(*network), fused).step
        for label, fused in (("fused", True), ("loop", False))
    }
    times: dict[str, list[float]] = {label: [] for label in steps}
    for index in range(repeats + 1):
        for label, step in list(steps.items())[:: 1 if index % 2 else -1]:
            started = time.perf_counter()
            step()
            if index:
                times[label].append(time.perf_counter() - started)
    medians = {f"{label}_ms": 1000 * statistics.median(t) for label, t in times.items()}
    return {**medians, "loop_over_fused": medians["loop_ms"] / medians["fused_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    keep_freed_memory()
    rows = []
    columns = ("tensors", "optimizer", "fused ms", "loop ms", "speed-up")
    header = f"{'network':<28} " + " ".join(f"{column:>9}" for column in columns)
    print(header + "\n" + "-" * len(header))
    for label, network in MODELS.items():
        tensors = len(list(network_with_gradients(*network).parameters()))
        for name in ("adamw", "sgd"):
            row = {"network": label, "tensors": tensors, "optimizer": name,
                   **measure(name, network, args.repeats)}  # fmt: skip
            rows.append(row)
            times = f"{row['fused_ms']:>9.2f} {row['loop_ms']:>9.2f}"
            print(f"{label:<28} {tensors:>9} {name:>9} {times} {row['loop_over_fused']:>8.2f}x",
                  flush=True)  # fmt: skip
    save_results(args.out, {"torch": torch.__version__, "rows": rows})


if __name__ == "__main__":
    main()

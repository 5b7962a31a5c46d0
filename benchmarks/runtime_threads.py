"""PyTorch's threads around a graph runtime: one thread (the Segmenter's choice) or all.

    python benchmarks/runtime_threads.py [--models lraspp,deeplabv3-mobilenet] [--size 512]
        [--threads 2] [--rounds 6] [--runtime onnxruntime] [--out FILE]

For each model (seeded random weights, 21 classes, as in ``backends.py``), three
Segmenters predict the same seeded random S×S image: eager PyTorch; the graph runtime
(``--runtime``: onnxruntime, openvino or openvino-bf16) with PyTorch's share of the work
(normalisation, argmax) on one thread, as :attr:`Segmenter.torch_threads` sets it; and
the same runtime with PyTorch left on all its threads. Each round gives each a block of
back-to-back calls (one untimed, then ``BLOCK`` timed), in alternating order; a row shows
the median over rounds of each block's median, the ratio to eager within a round, and
each one's logits checked against eager's
(:func:`pixelwise.inference.benchmark.compare_backends`). Prints a table and writes JSON
(atomically).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from backends import MODELS, save_random_model
from results import save_results

from pixelwise.allocator import keep_freed_memory
from pixelwise.inference.benchmark import (
    BackendTiming,
    compare_backends,
    segmenter_on,
    timing_table,
)
from pixelwise.inference.segmenter import Segmenter

DEFAULT_OUT = Path(__file__).parent / "results" / "runtime-threads.json"


class AllTorchThreads(Segmenter):
    """A Segmenter that leaves PyTorch on all its threads around a graph runtime."""

    torch_threads = None


def segmenters(model: Path, threads: int, runtime: str) -> dict[str, Segmenter]:
    """Eager, ``runtime`` as the Segmenter runs it, and ``runtime`` with all threads."""
    one_thread = segmenter_on(model, runtime, threads)
    runner = segmenter_on(model, runtime, threads).backend
    return {
        "torch": segmenter_on(model, "torch", threads),
        f"{runtime}, torch on 1 thread": one_thread,
        f"{runtime}, torch on {threads} threads": AllTorchThreads(runner, one_thread.card, "cpu"),
    }


Variants = Callable[[Path, int, str], dict[str, Segmenter]]


def measure(
    model: Path, size: int, threads: int, rounds: int, runtime: str, variants: Variants
) -> list[BackendTiming]:
    """One row per Segmenter of ``variants``: median ms, ratio to eager, parity with eager."""
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return compare_backends(variants(model, threads, runtime), image, rounds)


def parse_args(description: str, default_runtime: str, default_out: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--models", default="lraspp,deeplabv3-mobilenet", help="of backends.py")
    parser.add_argument("--size", type=int, default=512, help="image side (default 512)")
    parser.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds (default 6)")
    parser.add_argument(
        "--runtime",
        default=default_runtime,
        choices=("onnxruntime", "openvino", "openvino-bf16"),
        help=f"graph runtime (default {default_runtime})",
    )
    parser.add_argument("--out", type=Path, default=default_out, help="JSON output file")
    return parser.parse_args()


def run(args: argparse.Namespace, variants: Variants) -> None:
    """Time ``variants`` of each of ``args.models``; print a table and save JSON after each."""
    keep_freed_memory()  # as the pixelwise command does
    torch.set_num_threads(args.threads)
    results: dict[str, list[dict]] = {}
    payload = {
        "size": args.size,
        "rounds": args.rounds,
        "runtime": args.runtime,
        "models": results,
    }
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            model = save_random_model(Path(folder) / name, MODELS[name])
            rows = measure(model, args.size, args.threads, args.rounds, args.runtime, variants)
            print(f"\n{name} at {args.size}x{args.size}, {args.threads} threads")
            print(timing_table(rows))
            results[name] = [row.to_dict() for row in rows]
            save_results(args.out, payload)


if __name__ == "__main__":
    run(parse_args(__doc__.splitlines()[0], "onnxruntime", DEFAULT_OUT), segmenters)

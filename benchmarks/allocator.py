"""Per-image time with glibc's default allocation thresholds and with freed memory kept.

    python benchmarks/allocator.py [--models lraspp,deeplabv3-mobilenet] [--size 512]
        [--threads 2] [--rounds 4] [--backends torch,torch-bf16,onnxruntime] [--out FILE]

:func:`pixelwise.allocator.keep_freed_memory` changes the whole process and cannot be
undone, so each measurement is a fresh child process: one with glibc's defaults, one
that calls it first (as the ``pixelwise`` command does). Each child predicts one
seeded random S×S image through the Segmenter on every backend: one untimed call, then
the median of ``BLOCK`` timed calls. Rounds alternate which child runs first; the
ratio kept/default is taken within each round and its median reported. Prints a table
and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from backends import MODELS, save_random_model
from results import save_results

from pixelwise.allocator import keep_freed_memory
from pixelwise.inference.backends import installed_backends
from pixelwise.inference.benchmark import block_seconds, segmenter_on

DEFAULT_OUT = Path(__file__).parent / "results" / "allocator.json"
MODES = ("default", "kept")
BLOCK = 10


def child(model: Path, backends: list[str], size: int, threads: int, kept: bool) -> None:
    """Print ``{backend: median ms}`` for ``model`` on ``backends`` (the child's job)."""
    if kept:
        keep_freed_memory()
    torch.set_num_threads(threads)
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    medians = {}
    for backend in backends:
        segmenter = segmenter_on(model, backend, threads)
        medians[backend] = 1000 * block_seconds(segmenter, image, BLOCK)
    print(json.dumps(medians))


def run_child(model: Path, args: argparse.Namespace, backends: list[str], mode: str) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--model", str(model)]
    command += ["--size", str(args.size), "--threads", str(args.threads)]
    command += ["--backends", ",".join(backends)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(model: Path, args: argparse.Namespace, backends: list[str]) -> list[dict]:
    """Rows ``{backend, default_ms, kept_ms, ratio}`` over ``args.rounds`` rounds."""
    times: dict[str, list[dict]] = {mode: [] for mode in MODES}
    order = list(MODES)
    for _ in range(args.rounds):
        for mode in order:
            times[mode].append(run_child(model, args, backends, mode))
        order.reverse()
    rows = []
    for backend in backends:
        default = [t[backend] for t in times["default"]]
        kept = [t[backend] for t in times["kept"]]
        rows.append(
            {
                "backend": backend,
                "default_ms": statistics.median(default),
                "kept_ms": statistics.median(kept),
                "ratio": statistics.median(k / d for k, d in zip(kept, default, strict=True)),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [f"{'backend':<14} {'default ms':>10} {'kept ms':>8} {'kept/default':>12}"]
    lines += [
        f"{r['backend']:<14} {r['default_ms']:>10.1f} {r['kept_ms']:>8.1f} {r['ratio']:>11.2f}x"
        for r in rows
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="lraspp,deeplabv3-mobilenet", help="of: " + ", ".join(MODELS)
    )
    parser.add_argument("--size", type=int, default=512, help="image side (default 512)")
    parser.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of children (default 4)")
    parser.add_argument(
        "--backends",
        help="comma-separated (default: torch, torch-bf16, onnxruntime where they run)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    runnable = installed_backends()
    wanted = args.backends.split(",") if args.backends else ["torch", "torch-bf16", "onnxruntime"]
    backends = [b for b in wanted if b in runnable]
    if args.child:
        child(args.model, backends, args.size, args.threads, args.child == "kept")
        return
    results: dict[str, list[dict]] = {}
    payload = {"size": args.size, "rounds": args.rounds, "block": BLOCK, "models": results}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            model = save_random_model(Path(folder) / name, MODELS[name])
            results[name] = measure(model, args, backends)
            print(f"\n{name} at {args.size}x{args.size}, {args.threads} threads")
            print(table(results[name]))
            save_results(args.out, payload)


if __name__ == "__main__":
    main()

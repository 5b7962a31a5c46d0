"""Training throughput: a bare PyTorch loop against ``pixelwise train``, side by side.

    python benchmarks/training.py [--data-root ../shared/data/camvid] [--models unet,lraspp]
        [--settings float32,channels-last,bf16,bf16+channels-last] [--warmup 5]
        [--steps 20] [--compile] [--out FILE]

Models, at the ``camvid-cpu`` recipe's shapes (11 classes, batch 8, 176×240 crops of
CamVid at half scale, ce+dice with inverse-square-root class weights, AdamW at lr 0.003):
``unet`` (the recipe's: base width 16, depth 4), ``lraspp`` (MobileNetV3-Large),
``deeplabv3plus`` (over ResNet-18), ``segnet_basic``.

For each model and setting (precision × memory format), in one process:

- **bare**: the model, the loss and the optimiser over ready tensors (batches that the
  recipe's pipeline made beforehand), under ``torch.autocast`` for bfloat16, and nothing
  else: the ceiling for the engine;
- **engine**: ``pixelwise train`` as a user runs it (:func:`pixelwise.engine.fit.fit` on
  the recipe's configuration: loading, the decoded-image cache, augmentation, the
  Lightning loop, logging), stopped after the steps measured; validation and the final
  evaluation do not run.

Each times ``--steps`` steps after ``--warmup`` steps and reports images per second, the
engine's share of step time spent waiting for its batches, the engine against the bare
loop, and each setting against float32-contiguous. ``auto`` marks the setting that
``precision: auto`` and ``memory_format: auto`` pick on this machine. With ``--compile``,
the bare loop also runs ``torch.compile``'d models (float32, channels-last; compiling
takes minutes). The process keeps freed memory, as the ``pixelwise`` command does
(:func:`pixelwise.allocator.keep_freed_memory`). Prints a table and writes JSON
(atomically) after each model.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from results import save_results

from pixelwise.allocator import keep_freed_memory
from pixelwise.config import RunConfig, load_config, merge
from pixelwise.data.augment import build_augmentation
from pixelwise.data.registry import load_split
from pixelwise.data.stats import resolve_class_weights
from pixelwise.data.transforms import Normalization, TensorDataset
from pixelwise.engine.callbacks import StepClock
from pixelwise.engine.fit import fit
from pixelwise.engine.speed import resolve_speed
from pixelwise.engine.steptime import training_speed
from pixelwise.models import build_model

RECIPE = Path(__file__).parents[1] / "configs" / "camvid-cpu.yaml"
DEFAULT_OUT = Path(__file__).parent / "results" / "training.json"
MODELS = {
    "unet": {"model.name": "unet", "model.options": {"base_width": 16, "depth": 4}},
    "lraspp": {"model.name": "lraspp", "model.options": {}},
    "deeplabv3plus": {"model.name": "deeplabv3plus", "model.encoder": "resnet18",
                      "model.options": {}},
    "segnet_basic": {"model.name": "segnet_basic", "model.options": {}},
}  # fmt: skip
SETTINGS = {
    "float32": ("32-true", "contiguous"),
    "channels-last": ("32-true", "channels_last"),
    "bf16": ("bf16-mixed", "contiguous"),
    "bf16+channels-last": ("bf16-mixed", "channels_last"),
}
REFERENCE = "float32"


def recipe(model: str, data_root: str, out: Path) -> RunConfig:
    """The ``camvid-cpu`` recipe for ``model``, training into ``out``."""
    config = load_config(RECIPE)
    return merge(config, {**MODELS[model], "data.root": data_root, "out": str(out)}, "benchmark")


class StepTimer(StepClock):
    """The engine's own step clock, stopping the run after ``warmup + steps`` steps."""

    def __init__(self, warmup: int, steps: int) -> None:
        super().__init__()
        self.warmup, self.count = warmup, steps

    def on_train_epoch_start(self, trainer, module) -> None:
        """Steps are counted across epochs: only the clock restarts."""
        waits, steps = self.waits, self.steps
        super().on_train_epoch_start(trainer, module)
        self.waits, self.steps = waits, steps

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, module, outputs, batch, batch_idx)
        if len(self.steps) >= self.warmup + self.count:
            trainer.should_stop = True


def engine_speed(config: RunConfig, warmup: int, steps: int) -> dict[str, float]:
    """``pixelwise train`` on ``config``: images per second and data wait after warm-up."""
    timer = StepTimer(warmup, steps)
    long_enough = replace(config.train, epochs=10 + warmup + steps)  # the timer stops it
    fit(replace(config, train=long_enough), progress=False, callbacks=[timer])
    measured = timer.steps[warmup : warmup + steps]
    waits, busy = sum(timer.waits[warmup : warmup + steps]), sum(measured)
    batch = config.data.batch_size
    return {"images_per_second": batch * len(measured) / (waits + busy),
            "data_wait": waits / (waits + busy)}  # fmt: skip


def ready_batches(config: RunConfig, count: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` training batches made by the recipe's pipeline, before any timing."""
    data = config.data
    train = load_split(data, data.train_split, check=False)
    augmentation = build_augmentation(data.augment, tuple(data.crop), train.info.ignore_index, 0)
    pipeline = TensorDataset(train, Normalization.default(3), augmentation, data.scale)
    size = data.batch_size
    samples = [pipeline[i] for i in range(count * size)]
    groups = [samples[i : i + size] for i in range(0, len(samples), size)]
    return [(torch.stack([s[0] for s in g]), torch.stack([s[1] for s in g])) for g in groups]


def bare_speed(
    config: RunConfig, batches: list, warmup: int, steps: int, compiled: bool = False
) -> dict[str, float]:
    """The model, loss and optimiser of ``config`` over ``batches``: images per second
    (:func:`pixelwise.engine.steptime.training_speed`)."""
    torch.manual_seed(config.seed)
    section = config.model
    model = build_model(section.name, 11, encoder=section.encoder, **section.options)
    data = config.data
    train_split = load_split(data, data.train_split, check=False)
    weights = resolve_class_weights(config.train.class_weights, train_split, progress=False)
    network = torch.compile(model) if compiled else model
    speed = training_speed(network, config.train, batches, 11, 11, weights, warmup, steps)
    return {"images_per_second": speed}


def table(rows: list[dict]) -> str:
    """One line per model and setting: bare and engine images/s, ratios, data wait."""
    header = (f"{'model':<14} {'setting':<26} {'bare img/s':>10} {'engine img/s':>12} "
              f"{'engine/bare':>11} {'vs float32':>10} {'data wait':>9}")  # fmt: skip
    lines = [header, "-" * len(header)]
    for row in rows:
        engine = row.get("engine") or {}
        setting = row["setting"] + (" (auto)" if row.get("auto") else "")
        cells = [
            f"{row['bare']['images_per_second']:>10.1f}",
            f"{engine['images_per_second']:>12.1f}" if engine else f"{'-':>12}",
            f"{row['engine_over_bare']:>10.2f}x" if engine else f"{'-':>11}",
            f"{row['over_float32']:>9.2f}x" if row.get("over_float32") else f"{'-':>10}",
            f"{100 * engine['data_wait']:>8.1f}%" if engine else f"{'-':>9}",
        ]
        lines.append(f"{row['model']:<14} {setting:<26} " + " ".join(cells))
    return "\n".join(lines)


def measure_model(name: str, args: argparse.Namespace, work: Path) -> list[dict]:
    """Every setting of one model, bare then engine, in the order given."""
    base = recipe(name, args.data_root, work / name)
    auto = resolve_speed(base)[0].train
    picked = (str(auto.precision), auto.memory_format)
    batches = ready_batches(base)
    rows = []
    for setting in args.settings.split(","):
        precision, layout = SETTINGS[setting]
        config = replace(base, train=replace(base.train, precision=precision,
                                             memory_format=layout),
                         out=str(work / f"{name}-{setting}"))  # fmt: skip
        row = {"model": name, "setting": setting, "auto": (precision, layout) == picked}
        row["bare"] = bare_speed(config, batches, args.warmup, args.steps)
        row["engine"] = engine_speed(config, args.warmup, args.steps)
        row["engine_over_bare"] = (
            row["engine"]["images_per_second"] / row["bare"]["images_per_second"]
        )
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    if args.compile:
        for setting in ("float32", "channels-last"):
            precision, layout = SETTINGS[setting]
            config = replace(base, train=replace(base.train, precision=precision,
                                                 memory_format=layout))  # fmt: skip
            bare = bare_speed(config, batches, args.warmup, args.steps, compiled=True)
            rows.append({"model": name, "setting": f"{setting}+compile", "bare": bare})
    reference = next((r for r in rows if r["setting"] == REFERENCE), None)
    for row in rows:
        if reference is not None and row.get("engine"):
            ratio = row["engine"]["images_per_second"] / reference["engine"]["images_per_second"]
            row["over_float32"] = ratio
        elif reference is not None:
            row["over_float32"] = (
                row["bare"]["images_per_second"] / reference["bare"]["images_per_second"]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=str(Path(__file__).parents[2] / "shared" / "data"
                                                   / "camvid"))  # fmt: skip
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    keep_freed_memory()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            rows += measure_model(name, args, Path(work))
            print(table(rows))
            save_results(args.out, {"rows": rows, "warmup": args.warmup, "steps": args.steps,
                                    "batch_size": 8, "crop": [176, 240]})  # fmt: skip


if __name__ == "__main__":
    main()

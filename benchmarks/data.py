"""Training-pipeline throughput on CamVid: data loading vs. the model's training step.

    python benchmarks/data.py [--data-root ../shared/data/camvid] [--batches 12]
        [--workers 0,1,2] [--crop 256] [--batch-size 8] [--steps 3] [--out FILE]

The training loader is built exactly as ``pixelwise train`` builds it (the data
module's default augmentation: random crop and horizontal flip, then normalisation)
and iterated for ``--batches`` batches with each worker count, after one untimed
batch that starts the workers. In the same run, the training step (forward, loss,
backward, optimiser step) of a U-Net over ResNet-18 is timed on batches of the same
shape: one warm-up step, then the median of ``--steps`` steps. Data faster than the
model means training does not wait on data. Prints a table and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from results import save_results

from pixelwise.data.registry import load_dataset
from pixelwise.data.transforms import Normalization
from pixelwise.engine.datamodule import SegmentationDataModule
from pixelwise.models import build_model

DEFAULT_ROOT = Path(__file__).parents[2] / "shared" / "data" / "camvid"
DEFAULT_OUT = Path(__file__).parent / "results" / "data.json"
MODEL = {"name": "unet", "encoder": "resnet18"}


def data_module(root: Path, crop: int, batch_size: int, workers: int) -> SegmentationDataModule:
    """The data module that training builds for CamVid with ``workers`` loader processes."""
    train = load_dataset("camvid", "train", root=root)
    val = load_dataset("camvid", "val", root=root)
    normalization = Normalization.default(train.info.channels)
    return SegmentationDataModule(
        train, val, normalization, batch_size, (crop, crop), num_workers=workers, seed=0
    )


def data_images_per_s(module: SegmentationDataModule, batches: int) -> float:
    """Images per second from the training loader, after one untimed batch."""
    loader = iter(module.train_dataloader())
    next(loader)
    images = 0
    started = time.perf_counter()
    for _ in range(batches):
        images += len(next(loader)[0])
    return images / (time.perf_counter() - started)


def model_images_per_s(
    num_classes: int, crop: int, batch_size: int, steps: int
) -> tuple[float, float]:
    """Images per second and median seconds of the training step on random batches."""
    torch.manual_seed(0)
    model = build_model(MODEL["name"], num_classes, encoder=MODEL["encoder"]).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()
    images = torch.randn(batch_size, 3, crop, crop)
    masks = torch.randint(0, num_classes, (batch_size, crop, crop))
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        optimizer.zero_grad()
        criterion(model(images), masks).backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times[1:])
    return batch_size / seconds, seconds


def format_table(rows: list[dict], model_rate: float) -> str:
    lines = [f"{'source':<22}{'images/s':>10}{'waits on data':>15}"]
    for row in rows:
        waits = "yes" if row["images_per_s"] < model_rate else "no"
        lines.append(
            f"{'loader, workers=' + str(row['workers']):<22}{row['images_per_s']:>10.1f}{waits:>15}"
        )
    lines.append(f"{'model train step':<22}{model_rate:>10.1f}{'-':>15}")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT, help="CamVid folder")
    parser.add_argument("--batches", type=int, default=12, help="timed batches per worker count")
    parser.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    parser.add_argument("--crop", type=int, default=256, help="square training crop side")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.data_root.is_dir():
        raise SystemExit(f"CamVid not found at '{args.data_root}'; pass --data-root; skipped")
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        module = data_module(args.data_root, args.crop, args.batch_size, workers)
        rows.append({"workers": workers, "images_per_s": data_images_per_s(module, args.batches)})
    num_classes = module.train_set.dataset.info.num_classes
    model_rate, step_s = model_images_per_s(num_classes, args.crop, args.batch_size, args.steps)
    print(format_table(rows, model_rate))
    payload = {
        "data": "camvid train",
        "crop": [args.crop, args.crop],
        "batch_size": args.batch_size,
        "batches": args.batches,
        "model": MODEL,
        "model_step_s": step_s,
        "model_images_per_s": model_rate,
        "rows": rows,
    }
    save_results(args.out, payload)


if __name__ == "__main__":
    main()

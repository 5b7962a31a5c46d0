"""Inference: memory against image size, batched predict speed, tiled vs whole, TTA.

    python benchmarks/inference.py memory --model RUN_OR_MODEL [--sizes 1000,4000,10000,20000]
        [--width W] [--whole-sizes 1000,4000] [--tile 512] [--tile-batch 4] [--work /tmp/bench]
        [--results FILE]
    python benchmarks/inference.py batched --model RUN_OR_MODEL [--data-root CAMVID]
        [--batch-size 4] [--workers 2]
    python benchmarks/inference.py quality --model RUN_OR_MODEL [--data-root CAMVID]
        [--tiles 256,352] [--overlaps 0.25,0.5] [--blends gaussian,constant] [--images N]
    python benchmarks/inference.py tta --model RUN_OR_MODEL [--data-root CAMVID] [--images N]

``memory``: RGB TIFFs, square or ``--width`` wide (written tile by tile with tifffile, never
whole in memory),
are predicted by ``pixelwise.api.predict_files``, each in a fresh process whose own peak
RSS (``ru_maxrss``) is reported with its time; tiled (``--tile``) for every size, whole
where asked. A process that only loads the model gives the baseline.
``batched``: images per second over the CamVid val folder, batched predict (DataLoader
workers, batches of one size, outputs written) against a one-at-a-time loop (read,
``Segmenter.predict``, write the label PNG), in one run.
``quality``: mIoU on CamVid val at full resolution, whole images against tiles smaller
than the image (both blends, each overlap), and how many pixels' labels agree.
``tta``: mIoU and time of each TTA mode against plain prediction.
Each prints a table and writes ``benchmarks/results/inference-<mode>.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from results import save_results

DEFAULT_ROOT = Path(__file__).parents[2] / "shared" / "data" / "camvid"
RESULTS = Path(__file__).parent / "results"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


# --- memory against size -----------------------------------------------------------------


def write_test_tiff(path: Path, height: int, width: int, tile: int = 512) -> None:
    """A ``height × width`` RGB tiled TIFF of noisy random colours, written tile by tile."""
    if path.exists():
        return
    rng = np.random.default_rng(height * width)

    def tiles():
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                base = rng.integers(0, 256, (1, 1, 3))
                noise = rng.integers(-40, 40, (min(tile, height - y), min(tile, width - x), 3))
                yield np.clip(base + noise, 0, 255).astype(np.uint8)

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.tif")
    tifffile.imwrite(
        temporary, tiles(), shape=(height, width, 3), dtype=np.uint8, tile=(tile, tile),
        photometric="rgb", compression="zlib", bigtiff=height * width * 3 > 2**31,
    )  # fmt: skip
    temporary.replace(path)


def run_one(model: str, image: str, out: str, tile: str, tile_batch: int) -> None:
    """In this process: predict ``image`` (``tile`` 'none', 'auto' or a side), print JSON."""
    from pixelwise.api import predict_files
    from pixelwise.inference.predict import PredictOptions
    from pixelwise.inference.tiling import TileOptions

    started = time.perf_counter()
    if image:
        mode = {"none": "never", "auto": "auto"}.get(tile, "always")
        size = (int(tile), int(tile)) if mode == "always" else (512, 512)
        options = PredictOptions(
            tile=mode, tiling=TileOptions(size, 0.25, "gaussian", tile_batch),
            max_pixels=None if mode == "never" else 89_478_485, max_memory=64 * 2**30,
            workers=0, progress=False, force=True,
        )  # fmt: skip
        predict_files(model, [image], out, options)
    else:
        from pixelwise import load

        load(model, device="cpu")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss": peak}))


def measure(model: str, image: Path | None, out: Path, tile: str, tile_batch: int) -> dict:
    command = [sys.executable, __file__, "_one", model, str(image or ""), str(out), tile,
               str(tile_batch)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory(args: argparse.Namespace) -> None:
    work = Path(args.work)
    baseline = measure(args.model, None, work, "none", 1)
    rows = [{"height": 0, "width": 0, "mode": "load model only", **baseline}]
    for side in _ints(args.sizes):
        width = args.width or side
        image = work / (f"square-{side}.tif" if width == side else f"{width}x{side}.tif")
        write_test_tiff(image, side, width)
        modes = [("tiled", str(args.tile))]
        if side in _ints(args.whole_sizes):
            modes.insert(0, ("whole", "none"))
        for name, tile in modes:
            result = measure(args.model, image, work / f"out-{name}", tile, args.tile_batch)
            rows.append({"height": side, "width": width, "mode": name, **result})
            print_row(rows[-1])
    save_results(Path(args.results or RESULTS / "inference-memory.json"), {"model": args.model,
                 "tile": args.tile, "tile_batch": args.tile_batch, "rows": rows})  # fmt: skip
    print_table(rows, ["height", "width", "mode", "seconds", "peak_rss"])


def print_row(row: dict) -> None:
    print(json.dumps(row), flush=True)


def print_table(rows: list[dict], keys: list[str]) -> None:
    print(" | ".join(keys))
    for row in rows:
        cells = []
        for key in keys:
            value = row.get(key, row.get("error", ""))
            if key == "peak_rss" and isinstance(value, (int, float)):
                value = f"{value / 2**30:.2f} GiB"
            elif isinstance(value, float):
                value = f"{value:.4f}"
            cells.append(str(value))
        print(" | ".join(cells))


# --- CamVid: batched speed, tiled vs whole, TTA --------------------------------------------


def camvid(root: Path, images: int = 0):
    """CamVid val, or its first ``images`` images (0: all)."""
    from pixelwise.data.camvid import camvid_dataset

    dataset = camvid_dataset(root, "val")
    if images:
        dataset.pairs = dataset.pairs[:images]
    return dataset


def batched(args: argparse.Namespace) -> None:
    import torch

    from pixelwise import load
    from pixelwise.api import predict_files
    from pixelwise.data.io import write_png_atomic
    from pixelwise.data.reader import read_image
    from pixelwise.inference.predict import PredictOptions

    folder = Path(args.data_root) / "val"
    files = sorted(folder.glob("*.png"))
    work = Path(args.work)
    segmenter = load(args.model, device="cpu")
    torch.set_num_threads(torch.get_num_threads())
    started = time.perf_counter()
    for file in files:
        labels = segmenter.predict(read_image(file))
        write_png_atomic(work / "loop" / f"{file.stem}.png", labels, segmenter.info.colours)
    loop = time.perf_counter() - started
    options = PredictOptions(batch_size=args.batch_size, workers=args.workers, progress=False,
                             force=True)  # fmt: skip
    started = time.perf_counter()
    predict_files(args.model, [folder], work / "batched", options)
    pipeline = time.perf_counter() - started
    rows = [
        {"method": "one at a time (read, predict, write)", "seconds": loop,
         "images_per_s": len(files) / loop},
        {"method": f"predict: batch {args.batch_size}, {args.workers} workers",
         "seconds": pipeline, "images_per_s": len(files) / pipeline},
    ]  # fmt: skip
    save_results(RESULTS / "inference-batched.json", {"model": args.model, "images": len(files),
                 "rows": rows})  # fmt: skip
    print_table(rows, ["method", "seconds", "images_per_s"])


def score(segmenter, dataset, **predict_options) -> tuple[float, list[np.ndarray], float]:
    """mIoU over ``dataset``, the label maps, and the seconds spent predicting."""
    import torch

    from pixelwise.metrics import ConfusionMatrix

    info = dataset.info
    confusion = ConfusionMatrix(info.num_classes, info.ignore_index)
    labels, seconds = [], 0.0
    for index in range(len(dataset)):
        image, mask = dataset[index]
        started = time.perf_counter()
        predicted = segmenter.labels(image, **predict_options)
        seconds += time.perf_counter() - started
        confusion.update(predicted[None], torch.as_tensor(mask)[None])
        labels.append(predicted.numpy())
    return confusion.compute().miou, labels, seconds


def agreement(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    same = sum(int((x == y).sum()) for x, y in zip(a, b, strict=True))
    return same / sum(x.size for x in a)


def quality(args: argparse.Namespace) -> None:
    from pixelwise import load
    from pixelwise.inference.tiling import TileOptions

    segmenter = load(args.model, device="cpu")
    dataset = camvid(Path(args.data_root), args.images)
    whole_miou, whole_labels, whole_seconds = score(segmenter, dataset)
    rows = [{"prediction": "whole image", "miou": whole_miou, "agreement": 1.0,
             "seconds": whole_seconds}]  # fmt: skip
    print_row(rows[-1])
    configurations = [
        (tile, overlap, blend)
        for tile in _ints(args.tiles)
        for overlap in _floats(args.overlaps)
        for blend in args.blends.split(",")
    ]
    for tile, overlap, blend in configurations:
        tiling = TileOptions((tile, tile), overlap, blend, args.tile_batch)
        miou, labels, seconds = score(segmenter, dataset, tiling=tiling)
        rows.append({
            "prediction": f"tiles {tile}x{tile}, overlap {overlap}, {blend}",
            "miou": miou, "delta": miou - whole_miou,
            "agreement": agreement(labels, whole_labels), "seconds": seconds,
        })  # fmt: skip
        print_row(rows[-1])
    save_results(RESULTS / "inference-quality.json", {"model": args.model,
                 "images": len(dataset), "rows": rows})  # fmt: skip
    print_table(rows, ["prediction", "miou", "delta", "agreement", "seconds"])


def tta(args: argparse.Namespace) -> None:
    from pixelwise import load
    from pixelwise.inference.tta import TTA

    segmenter = load(args.model, device="cpu")
    dataset = camvid(Path(args.data_root), args.images)
    plain_miou, _, plain_seconds = score(segmenter, dataset, tta=TTA())
    rows = [{"tta": "none", "miou": plain_miou, "gain": 0.0, "seconds": plain_seconds,
             "cost": 1.0}]  # fmt: skip
    print_row(rows[-1])
    for modes in (["hflip"], ["flips"], ["d4"], ["scales:0.75,1,1.25"],
                  ["hflip", "scales:0.75,1,1.25"]):  # fmt: skip
        miou, _, seconds = score(segmenter, dataset, tta=TTA.parse(modes))
        rows.append({"tta": " ".join(modes), "miou": miou, "gain": miou - plain_miou,
                     "seconds": seconds, "cost": seconds / plain_seconds})  # fmt: skip
        print_row(rows[-1])
    save_results(RESULTS / "inference-tta.json", {"model": args.model, "images": len(dataset),
                 "rows": rows})  # fmt: skip
    print_table(rows, ["tta", "miou", "gain", "seconds", "cost"])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        model, image, out, tile, tile_batch = sys.argv[2:7]
        run_one(model, image, out, tile, int(tile_batch))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["memory", "batched", "quality", "tta"])
    parser.add_argument("--model", required=True, help="saved model or run directory")
    parser.add_argument("--data-root", default=str(DEFAULT_ROOT))
    parser.add_argument("--work", default="/tmp/pixelwise-inference-bench")
    parser.add_argument("--sizes", default="1000,4000,10000,20000", help="memory: heights")
    parser.add_argument("--width", type=int, default=0, help="memory: width (0: square)")
    parser.add_argument("--results", help="memory: JSON file to write")
    parser.add_argument("--whole-sizes", default="1000,4000")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--tile-batch", type=int, default=4)
    parser.add_argument("--overlaps", default="0.25,0.5")
    parser.add_argument("--tiles", default="256", help="quality: tile sides, comma separated")
    parser.add_argument("--blends", default="gaussian,constant", help="quality: blends")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=0, help="quality, tta: first N (0: all)")
    args = parser.parse_args()
    {"memory": memory, "batched": batched, "quality": quality, "tta": tta}[args.mode](args)


if __name__ == "__main__":
    main()

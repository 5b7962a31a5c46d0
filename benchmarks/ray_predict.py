"""Local predict against ``predict --engine ray`` with 1 and 2 workers, in one run.

    python benchmarks/ray_predict.py --model RUN_OR_MODEL [--data-root CAMVID]
        [--batch-size 4] [--work /tmp/bench-ray] [--results FILE]

Every configuration predicts the whole CamVid val folder (labels only) into a fresh
folder under ``--work``: local predict (batches of ``--batch-size``, 2 decoding workers)
with torch's own thread count and with 1 thread, then the Ray engine with 1 and 2
workers on a local Ray instance (``ray.init(num_cpus=<cores>)``, started once and timed
alone; workers at the default 0.5 CPU each, which Ray gives 1 torch thread). Per
configuration: wall seconds of the whole call (Ray: inspection, worker start and model
loading included), images per second over that wall time, and the mean per-image worker
seconds (a batch's forward pass shared among its images, plus writing; from
``summary.jsonl``). Every run's label files are checked byte for byte against local
predict's. The load average before and after each run is recorded: the machine is
shared. Last, one 1024×1024 image's seconds by stage on 1 torch thread (decode, forward
pass, label PNG), for estimates at that size. Prints a table and writes
``benchmarks/results/ray-predict.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from results import save_results

DEFAULT_ROOT = Path(__file__).parents[2] / "shared" / "data" / "camvid"
RESULTS = Path(__file__).parent / "results"


def worker_threads(ray: Any, cpus: float) -> int:
    """torch's thread count inside a Ray worker that reserves ``cpus`` CPUs."""

    def threads() -> int:
        import torch

        return torch.get_num_threads()

    return ray.get(ray.remote(num_cpus=cpus)(threads).remote())


def run(name: str, predict, out: Path) -> dict[str, Any]:
    """Time one configuration; its row."""
    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    report = predict(out)
    wall = time.perf_counter() - started
    lines = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    images = len(report.written)
    return {
        "configuration": name,
        "images": images,
        "wall_s": wall,
        "images_per_s": images / wall,
        "worker_s_per_image": sum(line["seconds"] for line in lines) / len(lines),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def megapixel_image_seconds(model: str, example: Path, work: Path, repeats: int = 3) -> dict:
    """Seconds per 1024×1024 image on 1 torch thread, by stage: decoding the PNG (the
    CamVid ``example`` resized), the forward pass in batches of 4 (per image), and encoding
    and writing the label PNG; each the median of ``repeats``, after one warm-up."""
    import numpy as np
    import torch
    from PIL import Image

    from pixelwise import load
    from pixelwise.data.reader import read_image
    from pixelwise.inference.outputs import EncodedOutputs, labels_from

    torch.set_num_threads(1)
    segmenter = load(model, device="cpu")
    path = work / "1024.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.open(example).convert("RGB").resize((1024, 1024), Image.BILINEAR).save(path)

    def median_seconds(step) -> float:
        step()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        return float(np.median(times))

    pixels = read_image(path)
    batch = np.stack([pixels] * 4)
    probabilities = segmenter.batch_probabilities(pixels[None])[0]

    def write() -> None:
        outputs = EncodedOutputs(["labels"], 1024, 1024, segmenter.info)
        outputs.put(0, labels_from(probabilities, segmenter.info.num_classes))
        (work / "1024-labels.png").write_bytes(outputs.png("labels"))

    return {
        "decode_s": median_seconds(lambda: read_image(path)),
        "forward_s": median_seconds(lambda: segmenter.batch_probabilities(batch)) / 4,
        "write_s": median_seconds(write),
    }


def same_labels(a: Path, b: Path) -> bool:
    """Whether two output folders hold the same label PNGs, byte for byte."""
    names = sorted(p.name for p in a.glob("*.png"))
    return names == sorted(p.name for p in b.glob("*.png")) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'configuration':<26}{'wall s':>9}{'img/s':>8}{'worker s/img':>14}{'load':>12}")
    for row in rows:
        print(f"{row['configuration']:<26}{row['wall_s']:>9.1f}{row['images_per_s']:>8.3f}"
              f"{row['worker_s_per_image']:>14.3f}"
              f"{row['load_before']:>6.1f}-{row['load_after']:.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-root", default=str(DEFAULT_ROOT))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--work", default="/tmp/bench-ray")
    parser.add_argument("--results", default=str(RESULTS / "ray-predict.json"))
    args = parser.parse_args()

    import ray
    import torch

    from pixelwise.api import predict_files, predict_files_on_ray
    from pixelwise.distributed.cluster import DEFAULT_CPUS_PER_WORKER, RayPredictOptions
    from pixelwise.inference.predict import PredictOptions

    folder, work = Path(args.data_root) / "val", Path(args.work)
    options = PredictOptions(batch_size=args.batch_size, summary=True, progress=False)
    rows, local = [], work / f"local-{torch.get_num_threads()}"
    for threads in (torch.get_num_threads(), 1):
        torch.set_num_threads(threads)
        name = f"local, {threads} torch thread{'s' if threads > 1 else ''}"
        rows.append(run(name, lambda out: predict_files(args.model, [folder], out, options),
                        work / f"local-{threads}"))  # fmt: skip
    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
    startup = time.perf_counter() - started
    threads = worker_threads(ray, DEFAULT_CPUS_PER_WORKER)
    for workers in (1, 2):
        cluster = RayPredictOptions(workers=workers)

        def on_ray(out: Path, cluster: RayPredictOptions = cluster):
            return predict_files_on_ray(args.model, [folder], out, options, cluster=cluster)

        name = f"ray, {workers} worker{'s' if workers > 1 else ''}"
        rows.append(run(name, on_ray, work / f"ray-{workers}"))
    for row, folder_name in zip(rows[1:], ["local-1", "ray-1", "ray-2"], strict=True):
        row["labels_identical_to_local"] = same_labels(local, work / folder_name)
    example = sorted(folder.glob("*.png"))[0]
    megapixel = megapixel_image_seconds(args.model, example, work / "megapixel")
    payload = {
        "model": args.model,
        "data": str(folder),
        "batch_size": args.batch_size,
        "ray_version": ray.__version__,
        "ray_startup_s": startup,
        "ray_worker_cpus": DEFAULT_CPUS_PER_WORKER,
        "ray_worker_torch_threads": threads,
        "rows": rows,
        "image_1024_seconds_1_thread": megapixel,
    }
    save_results(Path(args.results), payload)
    print(f"Ray start-up (ray.init): {startup:.1f} s; torch threads in a worker: {threads}")
    print_table(rows)
    print("one 1024x1024 image on 1 torch thread, seconds:", megapixel)
    print("labels identical to local:",
          {r["configuration"]: r["labels_identical_to_local"] for r in rows[1:]})  # fmt: skip


if __name__ == "__main__":
    main()

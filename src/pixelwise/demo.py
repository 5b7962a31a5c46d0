"""``pixelwise demo``: shapes data -> U-Net on the CPU -> scores -> a picture, in minutes."""

from __future__ import annotations

from pathlib import Path

from pixelwise.api import Evaluation, train
from pixelwise.config import DataSection, ModelSection, RunConfig, TrainSection
from pixelwise.data.io import write_png_atomic
from pixelwise.data.registry import load_dataset
from pixelwise.errors import PixelwiseError
from pixelwise.inference.segmenter import Segmenter
from pixelwise.report.predictions import prediction_figure
from pixelwise.rundir import RunDir

GRID_FILE = "predictions.png"


def demo_config(
    out: str | Path = "runs/demo",
    seed: int = 0,
    num_train: int = 1024,
    num_val: int = 200,
    size: int = 64,
    epochs: int = 14,
) -> RunConfig:
    """The demo's run: a narrow 4-level U-Net on generated shapes, sized for 2 CPU cores."""
    return RunConfig(
        model=ModelSection("unet", options={"base_width": 16, "depth": 4}),
        data=DataSection(
            "synthetic",
            options={"size": size, "seed": seed},
            split_options={"train": {"num_images": num_train}, "val": {"num_images": num_val}},
            batch_size=8,
        ),
        train=TrainSection(epochs=epochs, lr=1e-3, accelerator="cpu"),
        seed=seed,
        out=str(out),
    )


def write_grid(run: RunDir, data: DataSection, rows: int = 6) -> Path:
    """``predictions.png``: input | ground truth | prediction | errors for the first val images."""
    segmenter = Segmenter.load(run.root)
    dataset = load_dataset(
        data.name, data.val_split, root=data.root, **data.options_for(data.val_split)
    )
    samples = []
    for index in range(min(rows, len(dataset))):
        image, mask = dataset[index]
        samples.append((image, mask, segmenter.predict(image)))
    path = run.root / GRID_FILE
    write_png_atomic(path, prediction_figure(samples, dataset.info))
    return path


def run_demo(config: RunConfig, progress: bool = True) -> tuple[RunDir, Evaluation, Path]:
    """Train and evaluate the demo, then draw the grid.

    An earlier demo in the same folder is replaced; any other run there is left alone
    (a user error).
    """
    made_by = RunDir(Path(config.out)).made_by()
    if made_by not in (None, "demo"):
        raise PixelwiseError(
            f"'{config.out}' holds a run made by `pixelwise {made_by}`; the demo replaces only "
            "an earlier demo: choose another --out"
        )
    pictures: list[Path] = []
    run, evaluation = train(
        config,
        overwrite=made_by == "demo",
        progress=progress,
        command="demo",
        then=lambda run: pictures.append(write_grid(run, config.data)),
    )
    return run, evaluation, pictures[0]

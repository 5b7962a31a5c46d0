"""``pixelwise predict``: label images with a model, here or on a Ray cluster; resumable."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import ClassVar

from pixelwise.cli.common import (
    backend_option,
    command,
    help_lists,
    max_memory_option,
    max_pixels_option,
    ray_flags,
    ray_resources,
)
from pixelwise.config import option
from pixelwise.distributed.cluster import DEFAULT_CPUS_PER_WORKER
from pixelwise.flags import add_flags, read_flags
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.outputs import OutputRequest
from pixelwise.inference.tiling import BLENDS, TileOptions
from pixelwise.inference.tta import TTA
from pixelwise.options import Integer, ListOf, Number, Text, TileSize, WordList


@dataclass(frozen=True)
class Tiles:
    """When and how images are cut into tiles, and test-time augmentation."""

    TITLE: ClassVar[str] = "tiles and memory"

    tile: str | tuple[int, int] = option(
        "auto",
        kind=TileSize(),
        metavar="auto|none|H W",
        help="auto: whole images, tiles for those over --max-pixels or --max-memory "
        "(default); none: always whole; H W: always tiles of H×W pixels (default size "
        f"{' '.join(map(str, TileOptions.size))})",
    )
    overlap: float = option(
        TileOptions.overlap,
        kind=Number(),
        metavar="F",
        help="tile overlap as a fraction of the tile (default {default:g})",
    )
    blend: str = option(
        TileOptions.blend,
        kind=Text(BLENDS),
        help="weights of overlapping tiles (default {default})",
    )
    tile_batch: int = option(
        TileOptions.batch,
        kind=Integer(),
        metavar="N",
        help="tiles per forward pass (default {default})",
    )
    max_memory: int = max_memory_option(
        PredictOptions.max_memory, "memory budget of --tile auto and of batches, e.g. 4G, 512M"
    )
    tta: list[str] | None = option(
        kind=WordList(Text()),
        metavar="MODE",
        help="test-time augmentation, combinable: hflip, flips, d4, scales:0.75,1,1.25",
    )


@dataclass(frozen=True)
class Reading:
    """How images are read."""

    TITLE: ClassVar[str] = "reading images"

    max_pixels: int | None = max_pixels_option(
        PredictOptions.max_pixels,
        "N|none",
        "largest image read whole, in pixels (default {default}, PIL's); larger ones are tiled "
        "by --tile auto and written as TIFF",
    )
    page: int | None = option(kind=Integer(), metavar="N", help="page of multipage files (0-based)")
    float_range: list[float] | None = option(
        kind=ListOf(Number(), length=2),
        metavar=("LO", "HI"),
        help="value range of float images, mapped to 0..255 (default: the model's, 0 1)",
    )
    uint16_max: int | None = option(
        kind=Integer(),
        metavar="N",
        help="16-bit value meaning full scale (default: the model's, 65535: divide by 257)",
    )
    roi: str | None = option(
        kind=Text(),
        metavar="DIR",
        help="regions of interest, one per input by stem: outside its region an image's "
        "labels are the model's ignore index (or 0 with --roi-fill zero)",
    )
    roi_fill: str = option(
        PredictOptions.roi_fill,
        kind=Text(("ignore", "zero")),
        help="the label outside a region of interest: ignore (the model's ignore index) or "
        "zero (class 0)",
    )


@dataclass(frozen=True)
class Batches:
    """How images are batched, and what a rerun redoes."""

    TITLE: ClassVar[str] = "batches and resuming"

    batch_size: int = option(
        PredictOptions.batch_size,
        kind=Integer(),
        metavar="N",
        help="images of one size per forward pass (default {default}, fewer if --max-memory "
        "says so)",
    )
    workers: int = option(
        PredictOptions.workers,
        kind=Integer(),
        metavar="N",
        help="processes decoding images ahead (default {default}; 0: in the main process); "
        "with --engine ray: model workers on the cluster",
    )
    force: bool = option(False, kind=None, help="redo images whose outputs are already complete")
    skip_bad: bool = option(
        False,
        kind=None,
        help="log unreadable images to OUT/errors.jsonl and go on (default: exit 2 before "
        "any work)",
    )


@dataclass(frozen=True)
class PredictFlags:
    """The flags of ``pixelwise predict`` besides the model, inputs, ``--out`` and Ray's."""

    overlay: bool = option(False, kind=None, help="also write overlay/<stem>.png")
    probabilities: bool = option(
        False,
        kind=None,
        help="also write confidence/<stem>.png (top probability × 255) and, for at most 32 "
        "classes, probabilities/<stem>.npy ((H, W, K) float16)",
    )
    summary: bool = option(
        False, kind=None, help="write summary.jsonl: size, time, class fractions"
    )
    save_quantized: bool = option(
        False,
        kind=None,
        help="kmeans only: also write quantized/<stem>.png, each pixel in its cluster's colour",
    )
    tiles: Tiles = field(default_factory=Tiles)
    reading: Reading = field(default_factory=Reading)
    batches: Batches = field(default_factory=Batches)
    backend: str | None = backend_option()


def add_parser(commands: argparse._SubParsersAction) -> None:
    predict = command(
        commands, "predict", "write class-label PNGs (or TIFFs) for images; resumable"
    )
    predict.add_argument(
        "model_dir",
        metavar="MODEL_OR_RUN_DIR",
        help="a saved model folder, a run directory or an exported folder",
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    predict.add_argument(
        "--out", required=True, help="output folder (not an input folder; a subfolder is fine)"
    )
    add_flags(predict, PredictFlags, help_lists)
    ray_flags(
        predict, "--engine", "worker", DEFAULT_CPUS_PER_WORKER, "a Ray cluster, the same outputs"
    )
    predict.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from pixelwise.api import predict_files
    from pixelwise.inference.predict import describe

    cpus, gpus = ray_resources(args, "engine", "worker")
    flags = read_flags(args, PredictFlags)
    if args.engine == "ray":
        report = _predict_on_ray(args, flags, cpus, gpus)
    else:
        options = predict_options(flags)
        report = predict_files(args.model_dir, args.inputs, args.out, options, flags.backend)
    print("\n".join(describe(report)) + f"; outputs in {args.out}")
    return 0


def _predict_on_ray(
    args: argparse.Namespace, flags: PredictFlags, cpus: float | None, gpus: float | None
):
    """``predict --engine ray``: the cluster options from the flags, then the Ray engine."""
    from pixelwise.api import predict_files_on_ray
    from pixelwise.distributed.cluster import RayPredictOptions

    cluster = RayPredictOptions(
        address=args.address,
        workers=flags.batches.workers,
        cpus_per_worker=DEFAULT_CPUS_PER_WORKER if cpus is None else cpus,
        gpus_per_worker=0.0 if gpus is None else gpus,
    )
    options = predict_options(flags)
    return predict_files_on_ray(
        args.model_dir, args.inputs, args.out, options, backend=flags.backend, cluster=cluster
    )


def predict_options(flags: PredictFlags) -> PredictOptions:
    """The prediction options that the flags give."""
    tiles, reading, batches = flags.tiles, flags.reading, flags.batches
    mode, tiling = _tiling(tiles)
    return PredictOptions(
        tile=mode,
        tiling=tiling,
        max_memory=tiles.max_memory,
        tta=TTA.parse(tiles.tta) if tiles.tta else None,
        page=reading.page,
        max_pixels=reading.max_pixels,
        uint16_max=reading.uint16_max,
        float_range=tuple(reading.float_range) if reading.float_range else None,
        outputs=OutputRequest(flags.overlay, flags.probabilities, flags.save_quantized),
        batch_size=batches.batch_size,
        workers=batches.workers,
        summary=flags.summary,
        force=batches.force,
        skip_bad=batches.skip_bad,
        roi=reading.roi,
        roi_fill=reading.roi_fill,
    )


def _tiling(tiles: Tiles) -> tuple[str, TileOptions]:
    """The tile mode (auto, always or never) and the tile options of the tile flags."""
    tiling = TileOptions(overlap=tiles.overlap, blend=tiles.blend, batch=tiles.tile_batch)
    if isinstance(tiles.tile, tuple):
        return "always", replace(tiling, size=tiles.tile)
    return ("auto" if tiles.tile == "auto" else "never"), tiling

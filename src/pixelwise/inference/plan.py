"""Planning a prediction run: every check before any work, the same for every engine.

A run is planned in three steps. Only the second reads files, and it needs no model, so
an engine may spread it over many machines (:mod:`pixelwise.distributed.predict`):

1. :func:`prepare`: the model's options checked, the INPUTs listed
   (:mod:`pixelwise.inference.inputs`), their stems unique, the settings fingerprinted.
2. :func:`inspect_input`, per file: its header (nothing decoded), its output paths, and
   whether earlier outputs are complete (nothing to do), to be redone, or in the way.
3. :func:`plan_run`: per image, whole or tiled, and readable so (this needs the model);
   then, in this order: bad files refused (unless ``skip_bad``), no output on an input or
   in an input folder, the run files and earlier outputs pixelwise's own; the images split
   into those to do and those done.

:func:`whole_batches` then groups the whole images to do into forward passes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.data.io import list_images
from pixelwise.data.pairing import index_by_key
from pixelwise.data.reader import ImageHeader, ReadOptions, read_header
from pixelwise.errors import PixelwiseError
from pixelwise.inference.inputs import InputList, list_inputs
from pixelwise.inference.one_image import check_model_options, check_readable, wants_tiles
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.outputs import Receipt, output_paths
from pixelwise.inference.resume import check_outputs_spare_inputs, complete_receipt
from pixelwise.inference.segmenter import Segmenter, label_dtype
from pixelwise.inference.writer import ERRORS_FILE, PREDICT, run_files
from pixelwise.models.saving import CONFIG_FILE, WEIGHTS_FILE, resolve_model_dir
from pixelwise.ownership import OwnedFolder

logger = logging.getLogger(__name__)


def model_fingerprint(model_path: str | Path) -> str:
    """SHA-256 of a saved model's ``config.json`` and weights (hex, 16 characters)."""
    folder = resolve_model_dir(model_path)
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        file = folder / name
        if file.is_file():
            with open(file, "rb") as handle:
                for block in iter(lambda h=handle: h.read(2**20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def settings_fingerprint(model: str, options: PredictOptions, read: ReadOptions) -> str:
    """Fingerprint of everything that changes the predicted values (not the batch sizes,
    workers or engine)."""
    tiling = {**options.tiling.to_dict(), "batch": None}
    settings = {
        "model": model,
        "tta": options.tta.to_dict() if options.tta else None,
        "tile": options.tile,
        "tiling": tiling,
        "max_memory": options.max_memory if options.tile == "auto" else None,
        "scaling": read.scaling.to_dict(),
        "page": read.page,
        "max_pixels": read.max_pixels,
        "roi": str(Path(options.roi).resolve()) if options.roi else None,
        "roi_fill": options.roi_fill if options.roi else None,
    }
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- 1: the run as a whole -------------------------------------------------------------


@dataclass(frozen=True)
class RunSetup:
    """What looking at one input needs, besides the model: where outputs go, their kinds,
    how to read, the settings fingerprint, and whether complete outputs are redone."""

    out: Path
    kinds: tuple[str, ...]
    read: ReadOptions
    settings: str
    force: bool
    regions: dict[str, Path] | None = None


def _unique_stems(files: Sequence[Path]) -> None:
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise PixelwiseError(
                f"inputs '{seen[file.stem]}' and '{file}' would both write '{file.stem}.*'"
            )
        seen[file.stem] = file


def prepare(
    segmenter: Segmenter,
    inputs: Iterable[str | Path],
    out: str | Path,
    options: PredictOptions,
    model: str,
) -> tuple[InputList, RunSetup]:
    """Check the options against the model, list the INPUTs; ``model`` identifies the
    model in the settings fingerprint (see :func:`model_fingerprint`)."""
    read = options.read_options(segmenter.pixel_scaling)
    check_model_options(segmenter, options)
    listed = list_inputs(inputs)
    _unique_stems(listed.files)
    kinds = tuple(options.outputs.kinds(segmenter.info.num_classes))
    settings = settings_fingerprint(model, options, read)
    fill = options.region_fill(segmenter.info.ignore_index)
    regions = region_files(options.roi, segmenter, fill) if options.roi else None
    return listed, RunSetup(Path(out), kinds, read, settings, options.force, regions)


def region_files(folder: str, segmenter: Segmenter, fill: int) -> dict[str, Path]:
    """The region-of-interest files in ``folder`` by stem, after checking that the label
    written outside a region (``fill``) fits the label files."""
    if fill > np.iinfo(label_dtype(segmenter.info.num_classes)).max:
        raise PixelwiseError(
            f"the ignore index {fill} does not fit this model's label files: give --roi-fill zero"
        )
    path = Path(folder)
    if not path.is_dir():
        raise PixelwiseError(f"region folder '{path}' does not exist")
    regions, _ = index_by_key(list_images(path), None, path)
    return regions


# --- 2: one input, without the model ---------------------------------------------------


@dataclass(frozen=True)
class Inspection:
    """What a first look at one input found (nothing decoded, nothing written).

    ``reason``: why its header cannot be read (then nothing else is set); ``as_tiff``:
    over the pixel limit, so its outputs are TIFFs; ``paths``: kind -> output path;
    ``earlier``: the receipt of its complete earlier outputs (nothing to do);
    ``conflict``: why its outputs may not be written.
    """

    path: Path
    header: ImageHeader | None = None
    reason: str | None = None
    as_tiff: bool = False
    paths: dict[str, Path] | None = None
    earlier: Receipt | None = None
    conflict: str | None = None
    region: Path | None = None


def inspect_input(file: Path, setup: RunSetup) -> Inspection:
    """Read ``file``'s header and the receipt of its earlier outputs, if any."""
    try:
        header = read_header(file, setup.read)
        region = _region(file, header, setup.regions)
    except PixelwiseError as error:
        return Inspection(file, reason=str(error))
    read = setup.read
    as_tiff = read.max_pixels is not None and header.pixels > read.max_pixels
    paths = output_paths(setup.out, file.stem, list(setup.kinds), as_tiff)
    try:
        earlier = complete_receipt(file, paths, setup.out, setup.settings, setup.force)
    except PixelwiseError as error:
        return Inspection(file, header, None, as_tiff, paths, conflict=str(error), region=region)
    return Inspection(file, header, None, as_tiff, paths, earlier, region=region)


def _region(file: Path, header: ImageHeader, regions: dict[str, Path] | None) -> Path | None:
    """The region-of-interest file of input ``file``, checked to match its size."""
    if regions is None:
        return None
    region = regions.get(file.stem)
    if region is None:
        raise PixelwiseError(f"image '{file}' has no region of interest named '{file.stem}.*'")
    found = read_header(region)
    if (found.height, found.width) != (header.height, header.width):
        raise PixelwiseError(
            f"image '{file}' is {header.width}x{header.height} but its region of interest "
            f"'{region}' is {found.width}x{found.height}"
        )
    return region


# --- 3: the plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImagePlan:
    """One image to predict: its header, whole or tiled, TIFF or PNG outputs, their paths,
    and its region of interest (or None)."""

    path: Path
    header: ImageHeader
    tiled: bool
    as_tiff: bool
    paths: dict[str, Path]
    region: Path | None = None


@dataclass(frozen=True)
class RunPlan:
    """The images of a run: every readable one (``plans``, input order), those to do,
    those whose outputs are complete (input -> receipt), and the bad ones
    (``{"input", "reason"}``)."""

    plans: list[ImagePlan]
    todo: list[ImagePlan]
    done: dict[Path, Receipt]
    bad: list[dict[str, str]]


def _plan_image(segmenter: Segmenter, inspection: Inspection, options: PredictOptions,
                read: ReadOptions) -> ImagePlan:  # fmt: skip
    """Whole or tiled; raises :class:`PixelwiseError` when the image cannot be predicted."""
    if inspection.header is None or inspection.paths is None:
        raise PixelwiseError(inspection.reason or f"'{inspection.path}' was not inspected")
    header = inspection.header
    tiled = wants_tiles(segmenter, header, options, read)
    check_readable(header, tiled, segmenter.info.channels, options.max_memory, read)
    return ImagePlan(inspection.path, header, tiled, inspection.as_tiff, inspection.paths,
                     inspection.region)  # fmt: skip


def _refuse_bad(bad: list[dict[str, str]], total: int) -> None:
    first = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    raise PixelwiseError(
        f"{len(bad)} of {total} inputs cannot be predicted{more}; first: {first['reason']}. "
        f"Nothing was written; pass --skip-bad to log them to {ERRORS_FILE} and go on"
    )


def plan_run(
    segmenter: Segmenter,
    listed: InputList,
    inspections: Sequence[Inspection],
    setup: RunSetup,
    options: PredictOptions,
) -> RunPlan:
    """The run's plan from every input's inspection (in input order), after every check
    (see the module docstring); raises :class:`PixelwiseError` before anything is written."""
    planned: list[tuple[ImagePlan, Inspection]] = []
    bad = []
    for inspection in inspections:
        try:
            planned.append((_plan_image(segmenter, inspection, options, setup.read), inspection))
        except PixelwiseError as error:
            bad.append({"input": str(inspection.path), "reason": str(error)})
    if bad and not options.skip_bad:
        _refuse_bad(bad, len(inspections))
    outputs = (path for plan, _ in planned for path in plan.paths.values())
    check_outputs_spare_inputs(outputs, listed.folders, listed.files, setup.out)
    OwnedFolder(setup.out, PREDICT).check(run_files(options))
    for _, inspection in planned:
        if inspection.conflict is not None:
            raise PixelwiseError(inspection.conflict)
    done = {plan.path: seen.earlier for plan, seen in planned if seen.earlier is not None}
    if done:
        logger.info("skipping %d image(s) whose outputs are complete (--force redoes them)",
                    len(done))  # fmt: skip
    todo = [plan for plan, _ in planned if plan.path not in done]
    return RunPlan([plan for plan, _ in planned], todo, done, bad)


def whole_batches(
    segmenter: Segmenter, plans: Sequence[ImagePlan], options: PredictOptions
) -> list[list[int]]:
    """Indices of ``plans`` (whole images) in batches of one image size, at most
    ``batch_size`` each and as many as ``max_memory`` allows by the whole-image estimate."""
    by_size: dict[tuple[int, int], list[int]] = {}
    for index, plan in enumerate(plans):
        by_size.setdefault((plan.header.height, plan.header.width), []).append(index)
    batches = []
    for (height, width), indices in by_size.items():
        size = options.batch_size
        if segmenter.is_network:
            each = segmenter.whole_image_bytes(height, width, options.tta)
            size = max(1, min(size, options.max_memory // max(each, 1)))
        batches += [indices[i : i + size] for i in range(0, len(indices), size)]
    return batches

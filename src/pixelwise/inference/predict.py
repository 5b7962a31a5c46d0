"""Predicting many images: every check first, then batched, prefetched, resumable work.

Order of work:

1. List the inputs and read every file's header (fast). A file that cannot be read, or
   breaks a reading rule, stops the run before anything is written (exit 2), unless
   ``skip_bad``: then it goes to ``OUT/errors.jsonl`` with its reason.
2. Decide per image: whole, or tiled (``tile="auto"``: when it has more pixels than the
   pixel limit, or its whole-image estimate exceeds ``max_memory``).
3. Check the outputs: none may be an input, none may land in an input folder (a later run
   would read it as an input), and an existing file is replaced only when pixelwise wrote
   it (:mod:`pixelwise.inference.resume`).
4. Skip images whose outputs are complete for the same input and settings (``force``
   redoes them).
5. Whole images are decoded ahead by a ``DataLoader`` with workers and run in batches of
   one size; tiled images run one by one with bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from pixelwise.data.io import list_images
from pixelwise.data.reader import ImageHeader, ReadOptions, decode, read_header
from pixelwise.data.regions import RegionSource
from pixelwise.errors import PixelwiseError
from pixelwise.files import write_text_atomic
from pixelwise.inference.one_image import (
    check_model_options,
    check_readable,
    put_tiled,
    put_whole,
    region_source,
    wants_tiles,
)
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.outputs import ImageOutputs, Receipt, output_paths
from pixelwise.inference.resume import (
    check_outputs_spare_inputs,
    check_run_file,
    existing_receipt,
    is_complete,
)
from pixelwise.inference.segmenter import Segmenter
from pixelwise.models.saving import CONFIG_FILE, WEIGHTS_FILE, resolve_model_dir

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.jsonl"
ERRORS_FILE = "errors.jsonl"


@dataclass
class PredictReport:
    """What a run did: label files written, images skipped as complete, bad inputs."""

    written: list[Path] = field(default_factory=list)
    skipped: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)
    summary_path: Path | None = None
    errors_path: Path | None = None


@dataclass(frozen=True)
class ImagePlan:
    """One image to predict: its header, whole or tiled, TIFF or PNG outputs, their paths."""

    path: Path
    header: ImageHeader
    tiled: bool
    as_tiff: bool
    paths: dict[str, Path]


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


# --- 1-2: headers and the decision whole / tiled -------------------------------------------


def _unique_stems(files: Sequence[Path]) -> None:
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise PixelwiseError(
                f"inputs '{seen[file.stem]}' and '{file}' would both write '{file.stem}.*'"
            )
        seen[file.stem] = file


def _plan(
    segmenter: Segmenter,
    files: Sequence[Path],
    out: Path,
    options: PredictOptions,
    read: ReadOptions,
) -> tuple[list[ImagePlan], list[dict[str, str]]]:
    """Read every header; a plan per readable image, ``{"input", "reason"}`` per bad one."""
    kinds = options.outputs.kinds(segmenter.info.num_classes)
    plans, bad = [], []
    for file in tqdm(files, desc="checking headers", disable=not options.progress, leave=False):
        try:
            header = read_header(file, read)
            tiled = wants_tiles(segmenter, header, options, read)
            check_readable(header, tiled, segmenter.info.channels, options.max_memory, read)
        except PixelwiseError as error:
            bad.append({"input": str(file), "reason": str(error)})
            continue
        as_tiff = read.max_pixels is not None and header.pixels > read.max_pixels
        paths = output_paths(out, file.stem, kinds, as_tiff)
        plans.append(ImagePlan(file, header, tiled, as_tiff, paths))
    return plans, bad


def _refuse_bad(bad: list[dict[str, str]], total: int) -> None:
    first = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    raise PixelwiseError(
        f"{len(bad)} of {total} inputs cannot be predicted{more}; first: {first['reason']}. "
        f"Nothing was written; pass --skip-bad to log them to {ERRORS_FILE} and go on"
    )


# --- 3-4: what may be written, what is already done ------------------------------------


def _settings(model: str, options: PredictOptions, read: ReadOptions) -> str:
    """Fingerprint of everything that changes the predicted values (not the batch sizes)."""
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
    }
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- 5: the work -----------------------------------------------------------------------


class _Decoded(Dataset):
    """Item ``i``: ``(i, (H, W, C) uint8 pixels or None, error message or None)``."""

    def __init__(self, plans: Sequence[ImagePlan], channels: int, read: ReadOptions) -> None:
        self.plans, self.channels, self.read = plans, channels, read

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            return index, decode(self.plans[index].header, self.channels, self.read.scaling), None
        except PixelwiseError as error:
            return index, None, str(error)


def _batches(
    segmenter: Segmenter, plans: Sequence[ImagePlan], options: PredictOptions
) -> list[list[int]]:
    """Indices of ``plans`` in batches of one image size, at most ``batch_size`` each and as
    many as ``max_memory`` allows by the whole-image estimate."""
    by_size: dict[tuple[int, int], list[int]] = {}
    for index, plan in enumerate(plans):
        by_size.setdefault((plan.header.height, plan.header.width), []).append(index)
    batches = []
    for (height, width), indices in by_size.items():
        size = options.batch_size
        if segmenter.model is not None:
            each = segmenter.whole_image_bytes(height, width, options.tta)
            size = max(1, min(size, options.max_memory // max(each, 1)))
        batches += [indices[i : i + size] for i in range(0, len(indices), size)]
    return batches


class _Run:
    """The state of one run: the model, where outputs go, progress and the results so far."""

    def __init__(
        self,
        segmenter: Segmenter,
        out: Path,
        options: PredictOptions,
        settings: str,
        read: ReadOptions,
        total: int,
    ) -> None:
        self.segmenter, self.out, self.options = segmenter, out, options
        self.settings, self.read = settings, read
        self.report = PredictReport()
        self.receipts: dict[Path, Receipt] = {}
        self.bar = tqdm(total=total, desc="predicting", unit="img", disable=not options.progress)
        self.pixels = 0
        self.started = time.perf_counter()

    def bad(self, plan: ImagePlan, reason: str) -> None:
        if not self.options.skip_bad:
            raise PixelwiseError(reason)
        logger.warning("skipping '%s': %s", plan.path, reason)
        self.report.bad.append({"input": str(plan.path), "reason": reason})
        self.bar.update(1)

    def done(self, plan: ImagePlan, receipt: Receipt) -> None:
        self.receipts[plan.path] = receipt
        self.report.written.append(plan.paths["labels"])
        self.pixels += plan.header.pixels
        elapsed = time.perf_counter() - self.started
        self.bar.set_postfix_str(f"{self.pixels / elapsed / 1e6:.2f} Mpx/s", refresh=False)
        self.bar.update(1)

    def outputs(self, plan: ImagePlan) -> ImageOutputs:
        header = plan.header
        info = self.segmenter.info
        return ImageOutputs(plan.paths, header.height, header.width, info, plan.as_tiff)

    def finish(self, plan: ImagePlan, outputs: ImageOutputs, seconds: float) -> Receipt:
        summary = {
            "input": str(plan.path),
            "labels": plan.paths["labels"].relative_to(self.out).as_posix(),
            "height": plan.header.height,
            "width": plan.header.width,
            "tiled": plan.tiled,
            "seconds": round(seconds, 4),
            "class_fraction": outputs.class_fractions(),
        }
        receipt = Receipt.for_input(plan.path, self.settings)
        receipt = Receipt(**{**asdict(receipt), "summary": summary})
        return outputs.finish(receipt, self.out)

    # whole images, batched -----------------------------------------------------------

    def whole(self, plans: Sequence[ImagePlan]) -> None:
        if not plans:
            return
        channels = self.segmenter.info.channels
        loader = DataLoader(
            _Decoded(plans, channels, self.read),
            batch_sampler=_batches(self.segmenter, plans, self.options),
            collate_fn=list,
            num_workers=self.options.workers,
        )
        for batch in loader:
            decoded = []
            for index, pixels, error in batch:
                if error is not None:
                    self.bad(plans[index], error)
                else:
                    decoded.append((plans[index], pixels))
            if decoded:
                self._predict_batch(decoded)

    def _predict_batch(self, decoded: list[tuple[ImagePlan, np.ndarray]]) -> None:
        started = time.perf_counter()
        segmenter = self.segmenter
        images = np.stack([pixels for _, pixels in decoded])
        if segmenter.model is not None:
            scores = segmenter.batch_probabilities(images, self.options.tta).cpu()
        seconds = (time.perf_counter() - started) / len(decoded)
        quantize = self.options.outputs.quantized
        for index, (plan, pixels) in enumerate(decoded):
            started = time.perf_counter()
            with self.outputs(plan) as outputs:
                probabilities = scores[index] if segmenter.model is not None else None
                put_whole(segmenter, outputs, pixels, probabilities, quantize)
                receipt = self.finish(plan, outputs, seconds + time.perf_counter() - started)
            self.done(plan, receipt)

    # tiled images, one at a time -----------------------------------------------------

    def tiled(self, plan: ImagePlan) -> None:
        started = time.perf_counter()
        try:
            source = region_source(plan.header, self.segmenter.info.channels, self.read.scaling)
        except PixelwiseError as error:
            self.bad(plan, str(error))
            return
        try:
            receipt = self._predict_tiled(plan, source, started)
        except PixelwiseError as error:
            self.bad(plan, str(error))
            return
        finally:
            source.close()
        self.done(plan, receipt)

    def _predict_tiled(self, plan: ImagePlan, source: RegionSource, started: float) -> Receipt:
        with self.outputs(plan) as outputs:
            put_tiled(self.segmenter, outputs, source, self.options.tiling, self.options.tta)
            return self.finish(plan, outputs, time.perf_counter() - started)


def _write_run_files(
    run: _Run, plans: Sequence[ImagePlan], out: Path, options: PredictOptions
) -> None:
    """``summary.jsonl`` (every complete image, in input order) and ``errors.jsonl``."""
    if options.summary:
        records = [run.receipts[p.path].summary for p in plans if p.path in run.receipts]
        run.report.summary_path = out / SUMMARY_FILE
        write_text_atomic(run.report.summary_path, _json_lines(records))
    if options.skip_bad:
        run.report.errors_path = out / ERRORS_FILE
        write_text_atomic(run.report.errors_path, _json_lines(run.report.bad))


def predict_images(
    segmenter: Segmenter,
    inputs: Iterable[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
    model: str = "",
) -> PredictReport:
    """Predict every image in ``inputs`` (files and folders) into ``out``.

    ``model`` identifies the model in the settings fingerprint (see
    :func:`model_fingerprint`). Returns what was written, skipped and refused; raises
    :class:`PixelwiseError` before writing anything when a check fails.
    """
    options = options or PredictOptions()
    inputs, out = list(inputs), Path(out)
    read = options.read_options(segmenter.pixel_scaling)
    check_model_options(segmenter, options)
    files = list_images(inputs)
    _unique_stems(files)
    plans, bad = _plan(segmenter, files, out, options, read)
    if bad and not options.skip_bad:
        _refuse_bad(bad, len(files))
    check_outputs_spare_inputs(
        (path for plan in plans for path in plan.paths.values()), inputs, files, out
    )
    settings = _settings(model, options, read)
    for name, wanted in ((SUMMARY_FILE, options.summary), (ERRORS_FILE, options.skip_bad)):
        if wanted:
            check_run_file(out / name)
    todo, done = [], {}
    for plan in plans:
        receipt = existing_receipt(plan.path, plan.paths, out, settings, options.force)
        if not options.force and is_complete(plan.path, plan.paths, receipt, settings, out):
            done[plan.path] = receipt
        else:
            todo.append(plan)
    if done:
        logger.info("skipping %d image(s) whose outputs are complete (--force redoes them)",
                    len(done))  # fmt: skip
    run = _Run(segmenter, out, options, settings, read, total=len(todo))
    run.report.bad, run.report.skipped = list(bad), len(done)
    run.receipts.update(done)
    try:
        run.whole([plan for plan in todo if not plan.tiled])
        for plan in todo:
            if plan.tiled:
                run.tiled(plan)
    finally:
        run.bar.close()
        _write_run_files(run, plans, out, options)
    return run.report


def describe(report: PredictReport) -> list[str]:
    """Lines that say what a run did, for the CLI."""
    lines = [f"predicted {len(report.written)} image(s)"]
    if report.skipped:
        lines.append(
            f"skipped {report.skipped} image(s) whose outputs were complete (--force redoes them)"
        )
    if report.bad:
        lines.append(f"{len(report.bad)} bad input(s) logged to {report.errors_path}")
    if report.summary_path:
        lines.append(f"summary: {report.summary_path}")
    return lines


def _json_lines(records: Sequence[dict[str, Any]]) -> str:
    return "".join(f"{json.dumps(record)}\n" for record in records)

"""A dataset inspection written out: class frequency table and chart, sample masks, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pixelwise.data.advice import COLOUR_TEMPLATE, Advice, advise
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.inspect import InspectionReport, inspect_split
from pixelwise.data.io import encode_png
from pixelwise.errors import PixelwiseError
from pixelwise.models.saving import refuse_model_folder
from pixelwise.ownership import OwnedFolder, folder_lock
from pixelwise.report.overlay import colorize, grid, to_rgb

PANEL_SIDE = 160


def frequency_table(report: InspectionReport) -> str:
    """One row per class: pixel count and share of the labelled pixels."""
    width = max(8, *(len(name) for name in report.classes))
    header = f"{'class':<{width}}  {'pixels':>12}  {'share':>7}"
    lines = [header, "-" * len(header)]
    for name, count, share in zip(
        report.classes, report.class_pixels, report.frequencies, strict=True
    ):
        lines.append(f"{name:<{width}}  {count:>12}  {100 * share:>6.2f}%")
    lines.append(f"{'(ignored)':<{width}}  {report.ignored_pixels:>12}")
    return "\n".join(lines)


def frequency_chart(report: InspectionReport) -> np.ndarray:
    """Horizontal bars of each class's share of the labelled pixels; ``(H, W, 3)`` uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count = len(report.classes)
    figure = Figure(figsize=(6.0, 1.2 + 0.3 * count), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    shares = [100 * share for share in report.frequencies]
    axes.barh(range(count), shares, color="tab:blue")
    axes.set_yticks(range(count), report.classes)
    axes.invert_yaxis()
    axes.set_xlabel("share of labelled pixels (%)")
    axes.set_title(f"{report.dataset} {report.split}: class frequencies")
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _fit(panel: np.ndarray, side: int = PANEL_SIDE) -> np.ndarray:
    """Shrink or enlarge ``(H, W, 3)`` (nearest) to fit ``side`` square, padded white."""
    h, w = panel.shape[:2]
    factor = side / max(h, w)
    rows = (np.arange(max(1, round(h * factor))) / factor).astype(int).clip(max=h - 1)
    cols = (np.arange(max(1, round(w * factor))) / factor).astype(int).clip(max=w - 1)
    resized = panel[rows][:, cols]
    out = np.full((side, side, 3), 255, np.uint8)
    out[: resized.shape[0], : resized.shape[1]] = resized
    return out


def sample_grid(dataset: SegmentationDataset, count: int = 8) -> np.ndarray | None:
    """Rows of (image, colour mask) for the first ``count`` readable samples.

    Returns ``(H, W, 3)`` uint8, or ``None`` when no sample can be read.
    """
    info = dataset.info
    rows = []
    for index in range(len(dataset)):
        if len(rows) == count:
            break
        try:
            image, mask = dataset[index]
        except PixelwiseError:
            continue
        colours = colorize(mask, info.colours, info.ignore_index)
        rows.append([_fit(to_rgb(image)), _fit(colours)])
    return grid(rows) if rows else None


REPORT_FILE = "report.json"
FREQUENCIES_FILE = "class_frequencies.png"
SAMPLES_FILE = "samples.png"
INSPECTION_FILES = (REPORT_FILE, FREQUENCIES_FILE, SAMPLES_FILE, COLOUR_TEMPLATE)
"""The files :func:`write_inspection` writes."""


def write_inspection(
    report: InspectionReport, dataset: SegmentationDataset, out: OwnedFolder
) -> None:
    """Write ``report.json``, ``class_frequencies.png`` and ``samples.png`` into ``out``,
    which the caller has checked.

    ``samples.png`` is left out (an earlier one of pixelwise's removed) when no sample can
    be read.
    """
    out.write_text(REPORT_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    out.write_bytes(FREQUENCIES_FILE, encode_png(frequency_chart(report)))
    samples = sample_grid(dataset)
    if samples is None:
        out.remove([SAMPLES_FILE])
    else:
        out.write_bytes(SAMPLES_FILE, encode_png(samples))


def inspect_data(
    name: str,
    split: str,
    out: str | Path,
    root: str | Path | None = None,
    progress: bool = True,
    **options: Any,
) -> InspectionReport:
    """Inspect ``split`` of dataset ``name`` (see :func:`pixelwise.data.inspect.inspect_split`).

    Writes ``out/report.json``, ``out/class_frequencies.png`` and ``out/samples.png``
    (see :func:`write_inspection`) and returns the report; for folder data, the advice of
    :mod:`pixelwise.data.advice` goes into the report (or, when the folder cannot be read
    at all, into the error), and a colour table to fill in into ``out/colors.txt``. Files
    in ``out`` that ``data inspect`` did not write are never replaced: one error, before
    any is read.
    """
    folder = OwnedFolder(Path(out), "data inspect")
    refuse_model_folder(folder.root)
    folder.check(INSPECTION_FILES)
    advice = advise(options) if name == "folder" else Advice()
    try:
        report, dataset = inspect_split(name, split, root, progress, **options)
    except PixelwiseError as error:
        _write_template(folder, advice)
        if not advice.lines:
            raise
        raise PixelwiseError(f"{error}; {advice.lines[0]}") from None
    report.advice = advice.lines
    with folder_lock(folder.root):
        folder.check(INSPECTION_FILES)
        write_inspection(report, dataset, folder)
        _write_template(folder, advice)
    return report


def _write_template(folder: OwnedFolder, advice: Advice) -> None:
    """The colour table to fill in, when the advice has one."""
    if advice.colour_table is not None:
        folder.check([COLOUR_TEMPLATE])
        folder.root.mkdir(parents=True, exist_ok=True)
        folder.write_text(COLOUR_TEMPLATE, advice.colour_table)

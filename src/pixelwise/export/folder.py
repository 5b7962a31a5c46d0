"""The exported folder on disk: written whole, and opened only after it is checked.

Writing assembles the graph files, ``config.json`` (the model's card plus the
:class:`~pixelwise.export.record.ExportRecord`) and the manifest of
:mod:`pixelwise.ownership` beside the destination and swaps them in; an earlier export is
replaced only when the folder holds nothing else.
Opening checks each graph file against its recorded size and SHA-256, loads it in the
chosen runtime, and runs it once on the smallest input it takes to check that it takes
the card's channels and gives the card's number of classes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.export.onnx import OnnxRuntimeRunner
from pixelwise.export.openvino import PRECISIONS as OPENVINO_PRECISIONS
from pixelwise.export.openvino import OpenVinoRunner
from pixelwise.export.record import GRAPH_FILES, ExportRecord, FileStamp
from pixelwise.export.runtime import GraphRunner
from pixelwise.export.torchscript import TorchScriptRunner
from pixelwise.files import write_folder_atomic
from pixelwise.models.saving import CONFIG_FILE, WEIGHTS_FILE, ModelCard
from pixelwise.ownership import OwnedFolder

EXPORT = "export"
"""The command that writes exported folders, as their manifests record it."""


def check_destination(out: Path, source: Path) -> None:
    """``out`` may be new, empty, or hold only what an earlier export wrote (replaced whole).

    Anything else, the source model's own folder above all, is a user error: export never
    replaces what it did not write (:mod:`pixelwise.ownership`), nor a model's weights.
    """
    if out.resolve() == source.resolve() or (out / WEIGHTS_FILE).exists():
        raise PixelwiseError(f"--out '{out}' holds a saved model's weights; choose a new folder")
    folder = OwnedFolder(out, EXPORT)
    folder.check([])
    folder.check_only_own()


def write_exported(
    out: Path, card: ModelCard, record: ExportRecord, write_graph: Callable[[Path], None]
) -> Path:
    """Write the exported folder ``out`` atomically, with its manifest.

    ``write_graph(folder)`` writes the graph files of ``record.format`` into the staging
    folder; their stamps fill ``record.files``, and the card with the record becomes
    ``config.json``. The folder is checked again (:func:`check_destination`) just before
    it replaces an earlier export.
    """

    def write(staging: Path) -> None:
        write_graph(staging)
        names = GRAPH_FILES[record.format]
        files = {name: FileStamp.of(staging / name) for name in names}
        exported = replace(card, export=replace(record, files=files).to_dict())
        (staging / CONFIG_FILE).write_text(json.dumps(exported.to_dict(), indent=2))
        OwnedFolder(staging, EXPORT).record([*names, CONFIG_FILE])
        OwnedFolder(out, EXPORT).check_only_own()

    return write_folder_atomic(out, write)


def read_record(folder: Path, card: ModelCard) -> ExportRecord:
    """The export record of ``card`` (read from ``folder``); malformed is a user error."""
    try:
        return ExportRecord.from_dict(card.export or {})
    except (ValueError, KeyError, TypeError, AttributeError, PixelwiseError) as err:
        raise PixelwiseError(f"invalid export record in '{folder / CONFIG_FILE}': {err}") from None


def _runner(folder: Path, record: ExportRecord, backend: str, threads: int | None) -> GraphRunner:
    """The runtime ``backend`` over the folder's graph files."""
    first = folder / GRAPH_FILES[record.format][0]
    if backend == "onnxruntime":
        return OnnxRuntimeRunner(first, record.shape, threads)
    if backend in OPENVINO_PRECISIONS:
        return OpenVinoRunner(first, record.shape, threads, backend)
    return TorchScriptRunner(first, record.shape)


def check_against_card(runner: GraphRunner, card: ModelCard, graph: Path) -> None:
    """Run ``runner`` once on zeros of the card's channels; a user error naming ``graph``
    if it does not take them or does not give one score per class of the card."""
    shape = runner.shape
    side = shape.padded(shape.min_side)
    height, width = shape.static_size or (side, side)
    probe = torch.zeros(1, card.info.channels, shape.padded(height), shape.padded(width))
    try:
        scores = runner.run(probe)
    except Exception as err:  # each runtime has its own error types for a wrong input
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PixelwiseError(
            f"graph '{graph}' does not take the {card.info.channels}-channel inputs that "
            f"{CONFIG_FILE} describes: {first}"
        ) from None
    if scores.ndim != 4 or scores.shape[1] != card.info.num_classes:
        raise PixelwiseError(
            f"graph '{graph}' gives scores of shape {tuple(scores.shape)} but {CONFIG_FILE} "
            f"lists {card.info.num_classes} classes"
        )


def open_exported(
    folder: Path, card: ModelCard, backend: str | None = None, threads: int | None = None
) -> GraphRunner:
    """The checked graph of the exported ``folder``, on ``backend`` (default: the format's).

    ``threads`` limits the runtime's threads (None: its default).
    """
    record = read_record(folder, card)
    name = backend or record.backends[0]
    if name not in record.backends:
        raise PixelwiseError(
            f"'{folder}' holds a graph in {record.format} format, which runs on: "
            f"{', '.join(record.backends)}; got backend {name!r}"
        )
    for file, stamp in record.files.items():
        stamp.check(folder / file)
    runner = _runner(folder, record, name, threads)
    check_against_card(runner, card, folder / GRAPH_FILES[record.format][0])
    return runner

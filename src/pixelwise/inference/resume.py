"""What a prediction run may write, and what it has already done.

Inputs are never touched: no output may be an input file or land in a folder given as
input. A file at an output path is replaced only when pixelwise wrote it: a label file
with a receipt, or an output that the receipt lists. An image is done when its receipt
is for the same input (path, size, modification time) and settings, and every output it
lists is in place unchanged (see :mod:`pixelwise.inference.outputs`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pixelwise.errors import PixelwiseError
from pixelwise.inference.outputs import Receipt, read_receipt


def check_outputs_spare_inputs(
    outputs: Iterable[Path], folders: Iterable[Path], files: Sequence[Path], out: Path
) -> None:
    """No output may be an input file or land in a folder that inputs are listed from
    (``folders``; ``files``: the input files)."""
    input_files = {Path(os.path.realpath(file)) for file in files}  # a link loop stays as is
    input_folders = {folder.resolve() for folder in folders}
    for path in outputs:
        resolved = path.resolve()
        if resolved.parent in input_folders:
            raise PixelwiseError(
                f"--out '{out}' would write '{path}' into the input folder "
                f"'{resolved.parent}', where a later run would read it as an input; "
                "choose an --out outside the input folders (a subfolder is fine)"
            )
        if resolved in input_files:
            raise PixelwiseError(
                f"output '{path}' is the input file '{resolved}'; choose another --out"
            )


def not_ours(path: Path) -> PixelwiseError:
    """The error for an existing file at an output path that pixelwise did not write."""
    return PixelwiseError(
        f"'{path}' exists and was not written by pixelwise predict; it will not be "
        "replaced: choose another --out, or move the file away"
    )


def existing_receipt(
    source: Path, paths: dict[str, Path], out: Path, settings: str, force: bool
) -> Receipt | None:
    """The receipt of the earlier outputs ``paths`` (kind -> path) of input ``source``, after
    checking that they are pixelwise's and (without ``force``) made from the same input with
    the same ``settings``."""
    label = paths["labels"]
    receipt = read_receipt(label) if label.exists() else None
    if label.exists() and receipt is None:
        raise not_ours(label)
    listed = {record["path"] for record in (receipt.outputs.values() if receipt else ())}
    for kind, path in paths.items():
        if kind != "labels" and path.exists() and path.relative_to(out).as_posix() not in listed:
            raise not_ours(path)
    if receipt is None or force:
        return receipt
    if receipt.input != str(source.resolve()):
        raise PixelwiseError(
            f"'{label}' holds the prediction of '{receipt.input}', not of '{source}'; "
            "choose another --out, or pass --force to replace it"
        )
    if receipt.settings != settings:
        raise PixelwiseError(
            f"'{label}' was predicted with other settings (model or options); choose "
            "another --out, or pass --force to redo it with these"
        )
    return receipt


def is_complete(
    source: Path, kinds: Iterable[str], receipt: Receipt | None, settings: str, out: Path
) -> bool:
    """Whether ``receipt`` is for ``source`` as it is now, with ``settings``, and lists every
    output kind in ``kinds`` (labels aside) in place and unchanged."""
    if receipt is None or receipt.settings != settings:
        return False
    wanted = set(kinds) - {"labels"}
    current = Receipt.for_input(source, settings)
    return (
        receipt.same_input(current)
        and wanted <= set(receipt.outputs)
        and receipt.outputs_in_place(out)
    )


def complete_receipt(
    source: Path, paths: dict[str, Path], out: Path, settings: str, force: bool
) -> Receipt | None:
    """The receipt of ``source``'s earlier outputs ``paths`` when they are complete and may
    be kept (then there is nothing to do); ``None`` when the image is to be predicted. Raises
    as :func:`existing_receipt` does."""
    receipt = existing_receipt(source, paths, out, settings, force)
    if not force and is_complete(source, paths, receipt, settings, out):
        return receipt
    return None

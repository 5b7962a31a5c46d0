"""Colour-coded masks: a table of RGB colours, each a class (or ignored).

A colour table lists one colour and its class per entry, in class order; a colour named
``ignore`` marks pixels that are ignored. Written inline (``--mask-colors``) as
``R,G,B:name`` entries separated by ``;``, or as a file (a path) with one entry a line:
``R,G,B name`` or ``R,G,B:name``, blank lines and ``#`` comments skipped, so that a
legend saved beside a dataset (CamVid's ``label_colors.txt`` is ``R G B name``) reads
as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.errors import PixelwiseError

IGNORE = "ignore"
_ENTRY = re.compile(r"\s*(\d{1,3})[\s,]+(\d{1,3})[\s,]+(\d{1,3})\s*[:\s]\s*(\S.*?)\s*")


@dataclass(frozen=True)
class ColourTable:
    """``colours`` ``(K, 3)`` uint8, each mapped to ``targets[k]``: a class index, or -1
    for ``ignore``; ``classes`` are the class names in index order."""

    colours: np.ndarray
    targets: np.ndarray
    classes: tuple[str, ...]

    def class_colours(self) -> tuple[tuple[int, int, int], ...]:
        """The colour of each class, in class order (for drawing)."""
        return tuple(
            tuple(int(v) for v in self.colours[list(self.targets).index(i)])
            for i in range(len(self.classes))
        )  # type: ignore[return-value]

    def labels(self, rgb: np.ndarray, ignore_index: int, where: str) -> np.ndarray:
        """``(H, W, 3)`` colours -> ``(H, W)`` int64 class indices (``ignore_index`` for
        ignored colours); a colour not in the table is an error naming ``where``."""
        codes = _codes(rgb.reshape(-1, 3))
        keys = _codes(self.colours)
        order = np.argsort(keys)
        slot = np.searchsorted(keys[order], codes).clip(max=len(keys) - 1)
        found = keys[order][slot] == codes
        if not found.all():
            unknown = np.unique(codes[~found])
            shown = ", ".join(_rgb(c) for c in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise PixelwiseError(
                f"mask '{where}' has colours that are not in the colour table: {shown}{more}"
            )
        targets = self.targets[order][slot]
        return np.where(targets < 0, ignore_index, targets).reshape(rgb.shape[:2])


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _rgb(code: int) -> str:
    return f"({code >> 16}, {(code >> 8) & 255}, {code & 255})"


def parse_colour_table(spec: str) -> ColourTable:
    """A table from ``spec``: an existing file's path, else the inline form (see above)."""
    path = Path(spec)
    if "\n" not in spec and path.is_file():
        try:
            entries = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise PixelwiseError(f"cannot read colour table '{path}': {error}") from None
        where = f"colour table '{path}'"
    else:
        entries, where = spec.split(";"), "--mask-colors"
    colours, names = [], []
    for number, entry in enumerate(entries, start=1):
        text = entry.split("#", 1)[0].strip()
        if not text:
            continue
        match = _ENTRY.fullmatch(text)
        if match is None or max(int(match[i]) for i in (1, 2, 3)) > 255:
            raise PixelwiseError(
                f"{where}, entry {number}: {text!r} is not 'R,G,B:name' (0..255 each)"
            )
        colours.append([int(match[i]) for i in (1, 2, 3)])
        names.append(match[4])
    return _table(colours, names, where)


def _table(colours: list[list[int]], names: list[str], where: str) -> ColourTable:
    if not colours:
        raise PixelwiseError(f"{where} lists no colours")
    codes = _codes(np.array(colours))
    if len(set(codes.tolist())) != len(codes):
        raise PixelwiseError(f"{where} lists a colour twice")
    classes = [name for name in names if name != IGNORE]
    if len(set(classes)) != len(classes) or not classes:
        raise PixelwiseError(f"{where} must name each class once (and at least one)")
    targets = [-1 if name == IGNORE else classes.index(name) for name in names]
    return ColourTable(np.array(colours, np.uint8), np.array(targets), tuple(classes))


def colour_template(counts: dict[tuple[int, int, int], int]) -> str:
    """A colour table to fill in: every colour found (``counts``: colour -> pixels),
    most frequent first, named ``class0``, ``class1``, ..."""
    lines = ["# R,G,B:name  (pixels found); rename each class, name a colour 'ignore' to "
             "ignore it"]  # fmt: skip
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    for index, (colour, pixels) in enumerate(ranked):
        lines.append(f"{colour[0]},{colour[1]},{colour[2]}:class{index}  # {pixels} pixels")
    return "\n".join(lines) + "\n"

"""What every dataset is: indexed (image, mask) pairs plus the facts about its classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class DatasetInfo:
    """Class names, their display colours, the ignore index and the image channel count.

    ``ignore_index`` marks mask pixels that are excluded from losses and metrics;
    it never counts as a class. ``channels`` is 1 (grayscale) or 3 (RGB).
    """

    classes: tuple[str, ...]
    colours: tuple[Colour, ...]
    ignore_index: int = 255
    channels: int = 3

    def __post_init__(self) -> None:
        if len(self.classes) != len(self.colours):
            raise ValueError("classes and colours must have the same length")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        return {
            "classes": list(self.classes),
            "colours": [list(c) for c in self.colours],
            "ignore_index": self.ignore_index,
            "channels": self.channels,
        }

    @classmethod
    def from_dict(cls, d: dict) -> DatasetInfo:
        """The facts in ``d`` (as :meth:`to_dict` writes them); ``ValueError`` naming the
        key of anything else: classes must be names, each colour three integers 0..255."""
        classes, colours = d["classes"], d["colours"]
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"classes must be a list of names, got {classes!r}")
        if not isinstance(colours, list) or not all(map(_is_colour, colours)):
            raise ValueError(
                f"colours must be a list of [R, G, B] colours, each value an integer in "
                f"0..255, got {colours!r}"
            )
        return cls(
            classes=tuple(classes),
            colours=tuple(tuple(c) for c in colours),
            ignore_index=_integer(d["ignore_index"], "ignore_index"),
            channels=_integer(d["channels"], "channels"),
        )


def _is_colour(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    )


def _integer(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def default_colours(n: int) -> tuple[Colour, ...]:
    """``n`` distinct colours (the PASCAL VOC bit-interleaved palette); class 0 is black."""
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


class SegmentationDataset(Dataset):
    """Indexed (image, mask) pairs, before any augmentation or normalisation.

    ``self[i]`` returns ``(image, mask)``: image ``(H, W, C)`` uint8 with
    ``C == info.channels``; mask ``(H, W)`` int64 class indices in ``[0, num_classes)``
    or ``info.ignore_index``. ``stem(i)`` names sample ``i`` (the file stem).
    """

    info: DatasetInfo

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def stem(self, index: int) -> str:
        raise NotImplementedError

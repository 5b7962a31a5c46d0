"""Pairs decoded once per run, at the working scale, kept in memory up to a stated limit.

On the CPU, decoding is most of what preparing a training sample costs (a 360×480 CamVid
PNG: 8 ms of 9; resizing it to half scale 0.6 ms, augmenting 0.4 ms), and it happens
between training steps. A :class:`PairCache` keeps each pair the first time it is
prepared (after the working-scale resize, before augmentation), so that every later
epoch starts from the arrays, and gives back exactly what it was given: images as they
were (read-only: augmentation makes new arrays), masks in their own type (kept in the
smallest unsigned integer type that holds their values and the ignore index).

The caches of a run share one :class:`MemoryBudget` (``data.cache_mb``). Pairs that no
longer fit are prepared again each time they are drawn, as without a cache; the run says
so once, in the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pixelwise.sizes import format_size

logger = logging.getLogger("pixelwise")

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class MemoryBudget:
    """``limit`` bytes for kept pairs, of which ``used`` are taken."""

    limit: int
    used: int = 0
    full: bool = False

    def take(self, size: int) -> bool:
        """Take ``size`` bytes if they fit; the first refusal is logged."""
        if self.used + size <= self.limit:
            self.used += size
            return True
        if not self.full:
            self.full = True
            logger.info(
                "decoded images fill the cache's %s (data.cache_mb): the rest are decoded "
                "each time they are drawn",
                format_size(self.limit),
            )
        return False


class PairCache:
    """The pairs of one dataset kept so far, by index, within a shared ``budget``."""

    def __init__(self, budget: MemoryBudget, ignore_index: int) -> None:
        self.budget = budget
        self.ignore_index = ignore_index
        self.pairs: dict[int, tuple[np.ndarray, np.ndarray, np.dtype]] = {}

    def get(self, index: int) -> Pair | None:
        """The kept pair ``(image (H, W, C) uint8 read-only, mask (H, W))``, the mask in
        the type it was given in (augmentation treats types differently), or None."""
        kept = self.pairs.get(index)
        return None if kept is None else (kept[0], kept[1].astype(kept[2]))

    def put(self, index: int, image: np.ndarray, mask: np.ndarray) -> Pair:
        """Keep ``(image, mask)`` under ``index`` if the budget allows; returns the pair as
        :meth:`get` will (or as given, when it does not fit)."""
        top = max(int(mask.max(initial=0)), self.ignore_index)
        frozen, compact = _frozen(image), _frozen(mask.astype(np.min_scalar_type(top)))
        if not self.budget.take(frozen.nbytes + compact.nbytes):
            return image, mask
        self.pairs[index] = (frozen, compact, mask.dtype)
        return frozen, mask


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only, contiguous copy of ``array``."""
    frozen = np.array(array, order="C", copy=True)
    frozen.flags.writeable = False
    return frozen

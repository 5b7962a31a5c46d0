"""Test-time augmentation: flips, quarter turns and scales, merged by mean probability.

Modes (combinable): ``hflip`` (identity + left-right flip), ``flips`` (+ up-down and both),
``d4`` (all eight flips and quarter turns), ``scales:0.75,1,1.25`` (each scale of the
model's input). The views are every transform at every scale. Views of one size run in
one forward pass; each view's class scores are resized to the output size (still in the
view's layout), turned into softmax probabilities and only then undone (inverse
transform), and the probabilities are averaged in view order (identity first). So an
image and its mirror, with ``hflip``, compute the same two terms bit for bit and sum them
in either order: their probabilities, and labels, are exact mirrors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from pixelwise.data.dihedral import ALL, HFLIP, IDENTITY, VFLIP, Dihedral
from pixelwise.data.transforms import scaled_size
from pixelwise.errors import PixelwiseError

_GROUPS: dict[str, tuple[Dihedral, ...]] = {
    "hflip": (IDENTITY, HFLIP),
    "flips": (IDENTITY, HFLIP, VFLIP, Dihedral(flip_rows=True, flip_cols=True)),
    "d4": ALL,
}
MODES = (*_GROUPS, "scales:S,S,...")

LogitsFn = Callable[[torch.Tensor], torch.Tensor]
"""``(N, C, H, W)`` float32 -> ``(N, K, H, W)`` logits: the network's one forward pass."""


@dataclass(frozen=True)
class TTA:
    """The views to average: every one of ``transforms`` at every one of ``scales``."""

    transforms: tuple[Dihedral, ...] = (IDENTITY,)
    scales: tuple[float, ...] = (1.0,)

    @classmethod
    def parse(cls, modes: Sequence[str]) -> TTA:
        """``["hflip"]``, ``["d4", "scales:0.75,1,1.25"]``, ...: the union of the flip groups
        named (each includes the identity) times the scales (default ``1``)."""
        transforms: list[Dihedral] = [IDENTITY]
        scales: tuple[float, ...] = (1.0,)
        for mode in modes:
            if mode.startswith("scales:"):
                scales = _parse_scales(mode)
            elif mode in _GROUPS:
                transforms += [t for t in _GROUPS[mode] if t not in transforms]
            else:
                raise PixelwiseError(f"unknown TTA mode {mode!r}; choose from: {', '.join(MODES)}")
        return cls(tuple(transforms), scales)

    @property
    def views(self) -> int:
        return len(self.transforms) * len(self.scales)

    def to_dict(self) -> dict:
        return {
            "transforms": [[t.transpose, t.flip_rows, t.flip_cols] for t in self.transforms],
            "scales": list(self.scales),
        }


def _parse_scales(mode: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(part) for part in mode.removeprefix("scales:").split(","))
    except ValueError:
        raise PixelwiseError(
            f"TTA {mode!r}: scales must be numbers, e.g. scales:0.75,1,1.25"
        ) from None
    if not all(0 < s <= 4 for s in scales) or len(set(scales)) != len(scales):
        raise PixelwiseError(f"TTA {mode!r}: scales must be distinct and in (0, 4]")
    return scales


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def tta_probabilities(
    logits: LogitsFn, x: torch.Tensor, out_size: tuple[int, int], tta: TTA | None = None
) -> torch.Tensor:
    """Mean softmax probabilities ``(N, K, *out_size)`` of ``x`` ``(N, C, H, W)`` over the views.

    Without ``tta`` (or with one view) this is the softmax of the logits resized to
    ``out_size``: its argmax is the plain prediction's.
    """
    tta = tta or TTA()
    height, width = x.shape[-2:]
    views: list[tuple[Dihedral, torch.Tensor]] = []
    for scale in tta.scales:
        scaled = _resize(x, scaled_size(height, width, scale)) if scale != 1 else x
        views += [(t, t.apply(scaled, (2, 3))) for t in tta.transforms]
    by_size: dict[tuple[int, ...], list[int]] = {}
    for index, (_, view) in enumerate(views):
        by_size.setdefault(tuple(view.shape[-2:]), []).append(index)
    results: dict[int, torch.Tensor] = {}
    for indices in by_size.values():
        scores = logits(torch.cat([views[i][1] for i in indices]))
        for i, part in zip(indices, scores.split(x.shape[0]), strict=True):
            transform = views[i][0]
            resized = _resize(part, transform.output_size(*out_size))
            results[i] = transform.inverse().apply(torch.softmax(resized, dim=1), (2, 3))
    total = results[0]
    for i in range(1, len(views)):
        total = total + results[i]
    return total / len(views) if len(views) > 1 else total

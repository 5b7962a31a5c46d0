"""The built-in synthetic "shapes" dataset: circles, squares and triangles on texture.

Class is defined by shape alone. Every object's colour is drawn from ``OBJECT_PALETTE``
independently of its class, so no colour threshold can tell the classes apart; the
background is a smooth random colour field, and everything carries Gaussian noise.
All shapes of one size parameter have the same area, so area is no cue either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelwise.data.base import Colour, DatasetInfo, SegmentationDataset
from pixelwise.errors import PixelwiseError

SHAPE_CLASSES: tuple[str, ...] = ("background", "circle", "square", "triangle")
SHAPE_COLOURS: tuple[Colour, ...] = ((0, 0, 0), (230, 159, 0), (86, 180, 233), (0, 158, 115))
"""Mask display colours, one per class in ``SHAPE_CLASSES`` (Okabe-Ito palette)."""

OBJECT_PALETTE: np.ndarray = np.array(
    [
        (220, 30, 30),  # red
        (30, 170, 40),  # green
        (30, 60, 220),  # blue
        (235, 200, 30),  # yellow
        (200, 40, 200),  # magenta
        (30, 190, 200),  # cyan
    ],
    dtype=np.float32,
)
"""``(6, 3)`` saturated RGB colours that objects are painted in, whatever their class."""

SPLITS: tuple[str, ...] = ("train", "val", "test")
MIN_SIZE = 16

_RADIUS_RANGE = (0.12, 0.25)  # equal-area radius, as a fraction of the shorter side
_MIN_CONTRAST = 100.0  # RGB distance an object keeps from what lies under it
_MIN_VISIBLE = 0.5  # fraction of each object that later objects must leave visible
_PLACEMENT_TRIES = 10
_NOISE_STD = 10.0
_COLOUR_JITTER = 20.0
_SHADING = 15.0
_WAVES = 4  # sinusoids per channel in the background field
_SQUARE_HALF_SIDE = np.sqrt(np.pi) / 2  # half-side of the square with area pi r^2
_TRIANGLE_CIRCUMRADIUS = np.sqrt(4 * np.pi / (3 * np.sqrt(3)))  # same, for a triangle


def _image_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` from ``size``; raises ``PixelwiseError`` if a side is below 16."""
    hw = (size, size) if np.ndim(size) == 0 else tuple(size)
    if len(hw) != 2 or min(hw) < MIN_SIZE:
        raise PixelwiseError(
            f"size must be an int or (H, W), at least {MIN_SIZE} pixels per side; got {size!r}"
        )
    return int(hw[0]), int(hw[1])


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random colour field ``(H, W, 3)`` float32: a muted tint plus sinusoids."""
    base = rng.uniform(70, 180) + rng.uniform(-30, 30, size=3)
    freq = 2 * np.pi * rng.uniform(0.5, 4.0, size=(3, _WAVES)) / max(h, w)
    angle = rng.uniform(0, 2 * np.pi, size=(3, _WAVES))
    phase = rng.uniform(0, 2 * np.pi, size=(3, _WAVES))
    amp = rng.uniform(8, 22, size=(3, _WAVES))
    # sin(a x + b y + p) = sin(a x + p) cos(b y) + cos(a x + p) sin(b y): a sum of
    # separable terms, so each channel's field is one (H, 2K) @ (2K, W) product.
    ax = (freq * np.cos(angle))[..., None] * np.arange(w) + phase[..., None]  # (3, K, W)
    by = (freq * np.sin(angle))[..., None] * np.arange(h)  # (3, K, H)
    cols = np.concatenate([np.cos(by), np.sin(by)], axis=1).transpose(0, 2, 1)  # (3, H, 2K)
    rows = np.concatenate([np.sin(ax), np.cos(ax)], axis=1) * np.tile(amp, 2)[..., None]
    return ((cols @ rows).transpose(1, 2, 0) + base).astype(np.float32)


def _shape_mask(cls: int, dx: np.ndarray, dy: np.ndarray, r: float, theta: float) -> np.ndarray:
    """Boolean ``(H, W)`` mask of shape class ``cls`` with equal-area radius ``r``.

    ``dx``, ``dy`` are ``(H, W)`` pixel-centre offsets from the shape's centre and
    ``theta`` its rotation in radians (ignored for circles).
    """
    if cls == 1:
        return dx**2 + dy**2 <= r**2
    if cls == 2:
        u = np.cos(theta) * dx + np.sin(theta) * dy
        v = -np.sin(theta) * dx + np.cos(theta) * dy
        return np.maximum(np.abs(u), np.abs(v)) <= r * _SQUARE_HALF_SIDE
    # Equilateral triangle: inside when the offset projects onto every vertex
    # direction at no less than minus the inradius (half the circumradius).
    vertex = theta + 2 * np.pi * np.arange(3) / 3
    proj = np.cos(vertex)[:, None, None] * dx + np.sin(vertex)[:, None, None] * dy
    return (proj >= -r * _TRIANGLE_CIRCUMRADIUS / 2).all(axis=0)


def _random_shape(rng: np.random.Generator, cls: int, h: int, w: int) -> np.ndarray:
    """A randomly sized, placed and rotated boolean ``(H, W)`` mask of class ``cls``."""
    r = rng.uniform(*_RADIUS_RANGE) * min(h, w)
    margin = 0.8 * r
    cx, cy = rng.uniform(margin, w - margin), rng.uniform(margin, h - margin)
    yy, xx = np.mgrid[0:h, 0:w]
    return _shape_mask(cls, xx + 0.5 - cx, yy + 0.5 - cy, r, rng.uniform(0, 2 * np.pi))


def _leaves_visible(ids: np.ndarray, areas: list[int], shape: np.ndarray) -> bool:
    """Whether drawing ``shape`` over the object-id map ``ids`` (``(H, W)``, -1 = none)
    leaves at least ``_MIN_VISIBLE`` of every earlier object's full area visible."""
    if not areas:
        return True
    kept = np.bincount(ids[(ids >= 0) & ~shape], minlength=len(areas))
    return bool((kept >= _MIN_VISIBLE * np.asarray(areas)).all())


def _pick_colour(rng: np.random.Generator, avoid: np.ndarray) -> np.ndarray:
    """A palette colour ``(3,)`` at least ``_MIN_CONTRAST`` from each of ``avoid`` ``(K, 3)``.

    Drawn uniformly among those that qualify; the most distant one if none does.
    """
    dist = np.linalg.norm(OBJECT_PALETTE[:, None] - avoid[None], axis=-1).min(axis=1)
    ok = np.flatnonzero(dist >= _MIN_CONTRAST)
    index = rng.choice(ok) if ok.size else int(dist.argmax())
    return OBJECT_PALETTE[index]


def _paint(
    rng: np.random.Generator, canvas: np.ndarray, shape: np.ndarray, colour: np.ndarray
) -> None:
    """Paint ``colour`` ``(3,)``, jittered and with a random linear shading, into
    ``canvas`` ``(H, W, 3)`` float32 where ``shape`` ``(H, W)`` is true."""
    ys, xs = np.nonzero(shape)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) * max(np.ptp(xs), np.ptp(ys), 1) / 2
    ramp = direction[0] * (xs - xs.mean()) + direction[1] * (ys - ys.mean())
    jittered = colour + rng.uniform(-_COLOUR_JITTER, _COLOUR_JITTER, size=3)
    canvas[ys, xs] = jittered + _SHADING * ramp[:, None]


def _render(
    rng: np.random.Generator, h: int, w: int, max_objects: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image ``(H, W, 3)`` uint8 and its mask ``(H, W)`` uint8 of class indices."""
    background = _background(rng, h, w)
    canvas = background.copy()
    mask = np.zeros((h, w), np.uint8)
    ids = np.full((h, w), -1, np.int64)
    areas: list[int] = []
    colours: list[np.ndarray] = []
    for _ in range(rng.integers(1, max_objects + 1)):
        cls = int(rng.integers(1, len(SHAPE_CLASSES)))
        for _ in range(_PLACEMENT_TRIES):
            shape = _random_shape(rng, cls, h, w)
            if shape.any() and _leaves_visible(ids, areas, shape):
                break
        else:
            continue
        under = [colours[i] for i in np.unique(ids[shape & (ids >= 0)])]
        colour = _pick_colour(rng, np.stack([background[shape].mean(axis=0), *under]))
        _paint(rng, canvas, shape, colour)
        mask[shape], ids[shape] = cls, len(areas)
        areas.append(int(shape.sum()))
        colours.append(colour)
    canvas += rng.normal(0, _NOISE_STD, size=canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 255).round().astype(np.uint8), mask


def generate_shapes(
    num_images: int,
    size: int | tuple[int, int] = 64,
    seed: int | Sequence[int] = 0,
    max_objects: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``num_images`` synthetic shape images and their masks.

    Returns images ``(N, H, W, 3)`` uint8 RGB and masks ``(N, H, W)`` uint8 with class
    indices into ``SHAPE_CLASSES``. ``size`` is ``S`` for ``S x S`` or ``(H, W)``.
    Each image holds 1 to ``max_objects`` objects; later ones occlude earlier ones and
    the mask shows what is visible. The same ``seed`` (an int or a sequence of ints, as
    ``np.random.default_rng`` takes) always gives the same arrays.
    """
    h, w = _image_size(size)
    if num_images < 1:
        raise PixelwiseError(f"num_images must be at least 1, got {num_images!r}")
    if max_objects < 1:
        raise PixelwiseError(f"max_objects must be at least 1, got {max_objects!r}")
    rng = np.random.default_rng(seed)
    images = np.empty((num_images, h, w, 3), np.uint8)
    masks = np.empty((num_images, h, w), np.uint8)
    for i in range(num_images):
        images[i], masks[i] = _render(rng, h, w, max_objects)
    return images, masks


class SyntheticShapes(SegmentationDataset):
    """The shapes dataset in memory: ``num_images`` samples of one split.

    ``self[i]`` is ``(image (H, W, 3) uint8, mask (H, W) int64)``. Each split draws from
    its own random stream, derived from ``(seed, split)``, so the splits are disjoint.
    """

    def __init__(
        self,
        split: str = "train",
        num_images: int = 256,
        size: int | tuple[int, int] = 64,
        seed: int = 0,
        max_objects: int = 3,
    ) -> None:
        if split not in SPLITS:
            raise PixelwiseError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        self.split = split
        self.info = DatasetInfo(
            classes=SHAPE_CLASSES, colours=SHAPE_COLOURS, ignore_index=255, channels=3
        )
        self._images, self._masks = generate_shapes(
            num_images, size, seed=[seed, SPLITS.index(split)], max_objects=max_objects
        )

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self._images[index].copy(), self._masks[index].astype(np.int64)

    def stem(self, index: int) -> str:
        return f"{self.split}-{index:05d}"

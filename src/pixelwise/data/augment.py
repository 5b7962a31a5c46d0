"""Training augmentation built from named steps, applied to image and mask together.

``data.augment`` in a run configuration is a list of steps, applied in order, each a
mapping with a ``name`` and that step's parameters::

    augment:
      - {name: scale_crop, scale: [0.5, 2.0]}
      - {name: hflip}
      - {name: rotate, limit: 10}
      - {name: color_jitter, brightness: 0.2}
      - {name: gauss_noise}
      - {name: blur}
      - {name: elastic, alpha: 34, sigma: 4}

Geometric steps move the mask with the image (nearest-neighbour for the mask) and fill
the pixels they uncover with the ignore index, so those pixels count nowhere. The crop
size of ``crop`` and ``scale_crop`` is ``data.crop``. Without ``data.augment`` the
steps are ``crop`` (when ``data.crop`` is set) and ``hflip``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pixelwise.errors import PixelwiseError

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A
import cv2

Step = dict[str, Any]


@dataclass(frozen=True)
class Frame:
    """What every step may need: the training crop ``(H, W)`` and the mask ignore index."""

    crop: tuple[int, int] | None
    ignore_index: int

    def crop_size(self, step: str) -> tuple[int, int]:
        if self.crop is None:
            raise PixelwiseError(f"augmentation step '{step}' needs data.crop [H, W]")
        return self.crop

    def fill(self) -> dict[str, Any]:
        """Uncovered pixels: black in the image, the ignore index in the mask."""
        return {"border_mode": cv2.BORDER_CONSTANT, "fill": 0, "fill_mask": self.ignore_index}


# Geometric steps resample the image bilinearly and the mask by nearest neighbour.
RESAMPLE = {"interpolation": cv2.INTER_LINEAR, "mask_interpolation": cv2.INTER_NEAREST}


def _pad_and_crop(frame: Frame, step: str) -> list[A.BasicTransform]:
    """Pad to at least the crop size (mask padded with the ignore index), then crop at random."""
    height, width = frame.crop_size(step)
    return [
        A.PadIfNeeded(min_height=height, min_width=width, **frame.fill()),
        A.RandomCrop(height=height, width=width),
    ]


def crop(frame: Frame) -> list[A.BasicTransform]:
    """A random ``data.crop`` window, padding images that are smaller."""
    return _pad_and_crop(frame, "crop")


def scale_crop(frame: Frame, scale: Sequence[float] = (0.5, 2.0)) -> list[A.BasicTransform]:
    """Resize by a random factor in ``[scale[0], scale[1]]``, then a random ``data.crop`` window."""
    low, high = _pair(scale, "scale_crop", "scale")
    resize = A.RandomScale(scale_limit=(low - 1.0, high - 1.0), **RESAMPLE, p=1.0)
    return [resize, *_pad_and_crop(frame, "scale_crop")]


def hflip(frame: Frame, p: float = 0.5) -> list[A.BasicTransform]:
    """Mirror left-right with probability ``p``."""
    return [A.HorizontalFlip(p=p)]


def vflip(frame: Frame, p: float = 0.5) -> list[A.BasicTransform]:
    """Mirror top-bottom with probability ``p``."""
    return [A.VerticalFlip(p=p)]


def rot90(frame: Frame, p: float = 0.5) -> list[A.BasicTransform]:
    """Turn by a random multiple of 90 degrees with probability ``p``: with ``hflip`` and
    ``vflip``, every symmetry of the square, for images without an up (top-down views).
    Non-square crops keep their size only when ``data.crop`` is square."""
    return [A.RandomRotate90(p=p)]


def rotate(frame: Frame, limit: float = 10.0, p: float = 0.5) -> list[A.BasicTransform]:
    """Rotate by a random angle in ``[-limit, limit]`` degrees; corners become ignored pixels."""
    return [A.Rotate(limit=limit, **RESAMPLE, **frame.fill(), p=p)]


def color_jitter(
    frame: Frame,
    brightness: float = 0.2,
    contrast: float = 0.2,
    saturation: float = 0.2,
    hue: float = 0.0,
    p: float = 0.5,
) -> list[A.BasicTransform]:
    """Scale brightness, contrast and saturation by ``1 ± value``; shift hue by ``± hue`` turns."""
    return [
        A.ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue, p=p)
    ]


def gauss_noise(
    frame: Frame, std: Sequence[float] = (0.02, 0.08), p: float = 0.5
) -> list[A.BasicTransform]:
    """Add Gaussian noise; its standard deviation, a fraction of 255, is drawn from ``std``."""
    return [A.GaussNoise(std_range=_pair(std, "gauss_noise", "std"), p=p)]


def blur(
    frame: Frame, sigma: Sequence[float] = (0.5, 1.5), p: float = 0.5
) -> list[A.BasicTransform]:
    """Gaussian blur with a standard deviation in pixels drawn from ``sigma``."""
    return [A.GaussianBlur(sigma_limit=_pair(sigma, "blur", "sigma"), p=p)]


def elastic(
    frame: Frame, alpha: float = 34.0, sigma: float = 4.0, p: float = 0.5
) -> list[A.BasicTransform]:
    """Elastic deformation (U-Net paper): a random displacement field, Gaussian-smoothed.

    ``sigma`` is the smoothing in pixels and ``alpha`` scales the displacements.
    """
    return [A.ElasticTransform(alpha=alpha, sigma=sigma, **RESAMPLE, **frame.fill(), p=p)]


STEPS: dict[str, Callable[..., list[A.BasicTransform]]] = {
    "crop": crop,
    "scale_crop": scale_crop,
    "hflip": hflip,
    "vflip": vflip,
    "rot90": rot90,
    "rotate": rotate,
    "color_jitter": color_jitter,
    "gauss_noise": gauss_noise,
    "blur": blur,
    "elastic": elastic,
}


def _pair(value: Any, step: str, parameter: str) -> tuple[float, float]:
    """``[low, high]`` with ``low <= high``, else an error naming the step and parameter."""
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) for v in value)
        or value[0] > value[1]
    ):
        raise PixelwiseError(
            f"augmentation step '{step}': {parameter} must be [low, high], got {value!r}"
        )
    return float(value[0]), float(value[1])


def default_steps(crop_size: Sequence[int] | None) -> list[Step]:
    """The steps used when none are given: a random crop (if ``crop_size``), then ``hflip``."""
    return ([{"name": "crop"}] if crop_size else []) + [{"name": "hflip"}]


def _parameters(make: Callable[..., list[A.BasicTransform]]) -> list[str]:
    return [name for name in inspect.signature(make).parameters if name != "frame"]


def _transforms(step: Any, frame: Frame) -> list[A.BasicTransform]:
    """The albumentations transforms of one step mapping ``{name: ..., **parameters}``."""
    if not isinstance(step, dict) or "name" not in step:
        raise PixelwiseError(f"augmentation step must be a mapping with a 'name', got {step!r}")
    name, parameters = step["name"], {k: v for k, v in step.items() if k != "name"}
    if name not in STEPS:
        raise PixelwiseError(f"unknown augmentation step {name!r}; choose from: {', '.join(STEPS)}")
    valid = _parameters(STEPS[name])
    unknown = sorted(set(parameters) - set(valid))
    if unknown:
        raise PixelwiseError(
            f"unknown parameter {unknown[0]!r} for augmentation step '{name}'; "
            f"valid: {', '.join(valid) or 'none'}"
        )
    try:
        return STEPS[name](frame, **parameters)
    except (ValueError, TypeError) as error:
        raise PixelwiseError(f"augmentation step '{name}' rejects {parameters}: {error}") from None


def _is_crop(step: Any) -> bool:
    return isinstance(step, dict) and step.get("name") in ("crop", "scale_crop")


def build_augmentation(
    steps: Sequence[Step] | None,
    crop_size: Sequence[int] | None,
    ignore_index: int,
    seed: int,
) -> A.Compose:
    """An ``A.Compose`` of ``steps`` (default: :func:`default_steps`), seeded with ``seed``.

    It takes ``image`` ``(H, W, C)`` uint8 and ``mask`` ``(H, W)`` int and returns them
    transformed alike; with a crop step both come out ``crop_size`` ``(H, W)``.
    """
    frame = Frame(tuple(crop_size) if crop_size else None, ignore_index)
    chosen = default_steps(crop_size) if steps is None else steps
    if frame.crop is not None and not any(_is_crop(step) for step in chosen):
        raise PixelwiseError(
            f"data.crop is {list(frame.crop)} but data.augment has no 'crop' or 'scale_crop' "
            "step; add one (or drop data.crop)"
        )
    transforms = [t for step in chosen for t in _transforms(step, frame)]
    return A.Compose(transforms, seed=seed)

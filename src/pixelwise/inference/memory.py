"""How much memory a network's forward pass needs per pixel, measured on a small probe.

A dispatch mode sees every tensor that the forward pass allocates and when its storage
is freed; the peak of the bytes alive at once, divided by the probe's pixels, is the
activation cost per input pixel (convolutional networks scale linearly with the pixel
count). It leaves out library workspaces and allocator slack, so it is an estimate:
``--tile auto`` compares it, with the other buffers of a whole-image prediction, against
``--max-memory``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

PROBE_SIZE = (128, 128)


class _PeakLiveBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages alive at once while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.total = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        self.total -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for item in tree_flatten(out)[0]:
            if not isinstance(item, torch.Tensor):
                continue
            storage = item.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or key in self.live:
                continue
            self.live[key] = size
            self.total += size
            self.peak = max(self.peak, self.total)
            weakref.finalize(storage, self._release, key)
        return out


def activation_bytes_per_pixel(
    logits: Callable[[torch.Tensor], torch.Tensor],
    channels: int,
    probe: tuple[int, int] = PROBE_SIZE,
) -> float:
    """Peak bytes alive during ``logits(x)`` for a zero ``(1, channels, *probe)`` input, per
    input pixel (the output included)."""
    x = torch.zeros(1, channels, *probe)
    with torch.inference_mode(), _PeakLiveBytes() as tracker:
        logits(x)
    return tracker.peak / (probe[0] * probe[1])


def whole_image_bytes(
    height: int,
    width: int,
    channels: int,
    num_classes: int,
    model_pixels: int,
    bytes_per_model_pixel: float,
    views: int = 1,
) -> int:
    """Estimated peak bytes to predict one ``height × width`` image whole.

    The forward pass of ``views`` TTA views of ``model_pixels`` each, plus the image, its
    float copy, and ``views + 1`` float32 ``(K, H, W)`` score maps (each view's and the sum).
    """
    pixels = height * width
    network = views * model_pixels * bytes_per_model_pixel
    buffers = pixels * (channels * 5 + 4 * num_classes * (views + 1))
    return int(network + buffers)

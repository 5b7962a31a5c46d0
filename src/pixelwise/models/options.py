"""Bounds on the size of a model: one table for the size-like options, and a parameter limit.

:func:`~pixelwise.models.registry.build_model` checks every option named in
:data:`BOUNDS` (in whichever architecture takes it) before it builds anything, so a
training config, a model flag and a saved model's ``config.json`` meet the same
limits. The limits are generous (several times the papers' settings) but stop a
mistyped value from building a model that does not fit in memory:

====================  ===================================  ============================
option                architectures                        bound
====================  ===================================  ============================
``num_classes``       all                                  integer in [1, 65536]
``in_channels``       all                                  integer in [1, 1024]
``base_width``        unet (paper network; 64)             integer in [1, 1024]
``depth``             unet (4), segnet_basic (4)           integer in [1, 8]
``decoder_channels``  unet over an encoder                 1-8 integers in [1, 4096]
``fc_width``          fcn32s, fcn16s, fcn8s (4096)         integer in [1, 16384]
``fc_kernel``         fcn32s, fcn16s, fcn8s (7)            integer in [1, 15]
``width``             segnet_basic (64), patch (32)        integer in [1, 1024]
``kernel_size``       segnet_basic (7)                     integer in [1, 15]
``rates``             deeplabv3, deeplabv3plus (null)      1-8 integers in [1, 128]
``bins``              pspnet (1, 2, 3, 6)                  1-8 integers in [1, 64]
``channels``          pspnet (512)                         integer in [1, 4096]
``inter_channels``    lraspp (128)                         integer in [1, 4096]
``hidden``            patch (128)                          integer in [1, 16384]
``patch_size``        patch (31)                           integer in [1, 255]
====================  ===================================  ============================

Rules beyond size (odd kernels, ``patch_size = 4f + 15``, one decoder width per
encoder map, ``output_stride`` 8/16/32) are checked by the architectures themselves.
Within the bounds, options can still combine into a huge model (``base_width=1024``
with ``depth=8``), so a model of more than :data:`MAX_PARAMETERS` parameters is
refused too, counted on a copy built on the ``meta`` device (no memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from pixelwise.errors import PixelwiseError

MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights; the largest built-in default is ~0.5e9


@dataclass(frozen=True)
class Bound:
    """An integer in ``[low, high]``, or (``max_items > 0``) a list of 1 to ``max_items`` such.

    ``optional``: None is accepted too (it means "the architecture's default rule").
    """

    low: int
    high: int
    max_items: int = 0
    optional: bool = False

    def describe(self) -> str:
        """The accepted values in words."""
        if self.max_items:
            text = f"a list of 1 to {self.max_items} integers, each in [{self.low}, {self.high}]"
        else:
            text = f"an integer in [{self.low}, {self.high}]"
        return f"{text}, or null" if self.optional else text

    def accepts(self, value: object) -> bool:
        """Whether ``value`` lies within the bound."""
        if value is None:
            return self.optional
        if not self.max_items:
            return self._accepts_integer(value)
        return (
            isinstance(value, list | tuple)
            and 1 <= len(value) <= self.max_items
            and all(self._accepts_integer(item) for item in value)
        )

    def _accepts_integer(self, value: object) -> bool:
        is_integer = isinstance(value, int) and not isinstance(value, bool)
        return is_integer and self.low <= value <= self.high


BOUNDS: dict[str, Bound] = {
    "num_classes": Bound(1, 65536),
    "in_channels": Bound(1, 1024),
    "base_width": Bound(1, 1024),
    "depth": Bound(1, 8),
    "decoder_channels": Bound(1, 4096, max_items=8),
    "fc_width": Bound(1, 16384),
    "fc_kernel": Bound(1, 15),
    "width": Bound(1, 1024),
    "kernel_size": Bound(1, 15),
    "rates": Bound(1, 128, max_items=8, optional=True),
    "bins": Bound(1, 64, max_items=8),
    "channels": Bound(1, 4096),
    "inter_channels": Bound(1, 4096),
    "hidden": Bound(1, 16384),
    "patch_size": Bound(1, 255),
}


def check_bounds(options: Mapping[str, Any], where: str) -> None:
    """Raise a user error for the first option of ``options`` outside its :data:`BOUNDS`.

    ``where`` opens the message and says whose options they are (``"model 'unet': "``).
    """
    for key, value in options.items():
        bound = BOUNDS.get(key)
        if bound is not None and not bound.accepts(value):
            raise PixelwiseError(f"{where}{key} must be {bound.describe()}, got {value!r}")


def parameter_count(model: nn.Module) -> int:
    """The number of parameters of ``model`` (on any device, ``meta`` included)."""
    return sum(p.numel() for p in model.parameters())


def check_parameter_count(model: nn.Module, where: str) -> None:
    """Raise a user error if ``model`` has more than :data:`MAX_PARAMETERS` parameters."""
    count = parameter_count(model)
    if count > MAX_PARAMETERS:
        raise PixelwiseError(
            f"{where}the options give {count:,} parameters, more than the limit of "
            f"{MAX_PARAMETERS:,}; choose smaller widths or fewer levels"
        )

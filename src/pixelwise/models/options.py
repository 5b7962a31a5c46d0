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
from typing import Any

from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.options import Integer, Kind, ListOf, Optional, checked

MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights; the largest built-in default is ~0.5e9


def _sizes(high: int) -> ListOf:
    return ListOf(Integer(1, high), max_length=8)


BOUNDS: dict[str, Kind] = {
    "num_classes": Integer(1, 65536),
    "in_channels": Integer(1, 1024),
    "base_width": Integer(1, 1024),
    "depth": Integer(1, 8),
    "decoder_channels": _sizes(4096),
    "fc_width": Integer(1, 16384),
    "fc_kernel": Integer(1, 15),
    "width": Integer(1, 1024),
    "kernel_size": Integer(1, 15),
    "rates": Optional(_sizes(128)),
    "bins": _sizes(64),
    "channels": Integer(1, 4096),
    "inter_channels": Integer(1, 4096),
    "hidden": Integer(1, 16384),
    "patch_size": Integer(1, 255),
}


def check_bounds(options: Mapping[str, Any], where: str) -> None:
    """Raise a user error for the first option of ``options`` outside its :data:`BOUNDS`.

    ``where`` opens the message and says whose options they are (``"model 'unet': "``).
    """
    for key, value in options.items():
        if key in BOUNDS:
            checked(BOUNDS[key], value, f"{where}{key}")


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

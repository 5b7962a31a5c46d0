"""One graph of a model for every export format, with free batch, height and width.

:func:`capture` traces a model with ``torch.export`` on an example input and keeps
batch, height and width symbolic, so the graph holds for every size instead of the
example's. While capturing, ``torch.compiler.is_exporting()`` is true, which switches
the few ops that exporters cannot express at free sizes to equivalent forms (see
:mod:`pixelwise.models.upsample` and :mod:`pixelwise.models.pspnet`).

Two properties of an architecture shape the graph's inputs (:class:`InputShape`):

- Sizes of 1 are special cases for the tracer (broadcasting), so H and W have a lower
  bound, ``min_side`` (:data:`MIN_SIDE`).
- Models that pad their input inside to a multiple of their largest stride and crop
  the logits back (U-Net, SegNet, FCN) say so with a ``multiple`` attribute. Their
  graph takes H and W that are multiples of it, and the runtime does the same zero
  padding and cropping outside the graph (:meth:`InputShape.pad`): the model would pad
  by zero pixels then, so the result is the same, and the tracer need not prove facts
  about remainders that it cannot.

An architecture whose graph would still hold only for some sizes cannot be captured
with free H and W: that is a user error asking for ``--static-size``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.export import Dim, ExportedProgram

from pixelwise.errors import PixelwiseError

MIN_SIDE = 32
# example sides for tracing: distinct from each other and from MIN_SIDE, not powers of 2
EXAMPLE_SIZE = (75, 101)
EXAMPLE_BATCH = 2


@dataclass(frozen=True)
class InputShape:
    """The inputs an exported graph takes: ``(N, channels, H, W)`` float32, N free.

    With ``static_size`` ``(H, W)``, that size only; otherwise any H and W of at least
    ``min_side``. The graph itself sees H and W padded up to ``multiple`` (see
    :meth:`pad`).
    """

    channels: int
    static_size: tuple[int, int] | None = None
    min_side: int = MIN_SIDE
    multiple: int = 1

    def padded(self, side: int) -> int:
        """``side`` rounded up to ``multiple``."""
        return side + -side % self.multiple

    def example(self) -> torch.Tensor:
        """A seeded ``(2, channels, H, W)`` input to trace with, H and W padded."""
        height, width = (self.padded(side) for side in self.static_size or EXAMPLE_SIZE)
        generator = torch.Generator().manual_seed(0)
        return torch.randn(EXAMPLE_BATCH, self.channels, height, width, generator=generator)

    def dynamic_shapes(self) -> dict[str, dict[int, Any]]:
        """``torch.export`` specs: batch free; H and W free multiples of ``multiple``."""
        dims: dict[int, Any] = {0: Dim("batch", min=1)}
        if self.static_size is None:
            least = -(-self.min_side // self.multiple)
            for axis, name in ((2, "height"), (3, "width")):
                free = Dim(name if self.multiple == 1 else f"{name}_blocks", min=least)
                dims[axis] = free if self.multiple == 1 else self.multiple * free
        return {"x": dims}

    def check(self, shape: tuple[int, ...]) -> None:
        """A user error unless ``shape`` is an ``(N, C, H, W)`` that the graph takes."""
        if len(shape) != 4 or shape[1] != self.channels:
            raise PixelwiseError(
                f"the exported graph takes (N, {self.channels}, H, W) inputs, got {tuple(shape)}"
            )
        height, width = shape[2:]
        if self.static_size is not None and (height, width) != tuple(self.static_size):
            want = "×".join(map(str, self.static_size))
            raise PixelwiseError(
                f"the graph was exported for {want} inputs (at the working scale), got "
                f"{height}×{width}; export again with another --static-size, or without it"
            )
        if self.static_size is None and min(height, width) < self.min_side:
            raise PixelwiseError(
                f"the exported graph takes inputs of at least {self.min_side} pixels a side "
                f"(at the working scale), got {height}×{width}"
            )

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``(N, C, H, W)`` bottom and right to ``multiple``, as the model does."""
        height, width = x.shape[-2:]
        if self.multiple == 1:
            return x
        return F.pad(x, (0, self.padded(width) - width, 0, self.padded(height) - height))

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "static_size": list(self.static_size) if self.static_size else None,
            "min_side": self.min_side,
            "multiple": self.multiple,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputShape:
        static = d.get("static_size")
        return cls(
            int(d["channels"]),
            (int(static[0]), int(static[1])) if static else None,
            int(d["min_side"]),
            int(d["multiple"]),
        )

    @classmethod
    def of(
        cls, model: nn.Module, channels: int, static_size: tuple[int, int] | None = None
    ) -> InputShape:
        """The shape for ``model``: its ``multiple`` attribute (if any) and ``static_size``."""
        return cls(channels, static_size, multiple=int(getattr(model, "multiple", 1)))


class _Forward(nn.Module):
    """``model`` behind a ``forward(x)`` whose argument is named ``x``, as the specs say."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@contextmanager
def quiet(*loggers: str) -> Iterator[None]:
    """Warnings off, and the named loggers at ERROR, inside a ``with`` block."""
    chosen = [logging.getLogger(name) for name in loggers]
    levels = [logger.level for logger in chosen]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in chosen:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(chosen, levels, strict=True):
                logger.setLevel(level)


def _first_violation(err: Exception) -> str:
    """The first specific line of a constraint-violation message."""
    lines = [line.strip(" -") for line in str(err).splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("Not all values")), lines[0])


def capture(model: nn.Module, shape: InputShape) -> ExportedProgram:
    """Trace ``model`` (put in eval mode) into a graph for inputs of ``shape``.

    Any assumption about H and W that the trace would need beyond ``shape`` (a branch
    on a size, say) fails the capture rather than being kept silently: an architecture
    whose graph cannot keep H and W free is a user error asking for ``--static-size``.
    """
    name = getattr(model, "config", {}).get("name", type(model).__name__)
    with quiet("torch.export", "torch._export", "torch.fx", "torch._dynamo"):
        try:
            return torch.export.export(
                _Forward(model.eval()),
                (shape.example(),),
                dynamic_shapes=shape.dynamic_shapes(),
                strict=False,
            )
        except torch._dynamo.exc.UserError as err:
            if shape.static_size is not None or "Constraints violated" not in str(err):
                raise
            raise PixelwiseError(
                f"{name} cannot be exported with free height and width "
                f"({_first_violation(err)}); give --static-size H W"
            ) from None

"""What every exported graph's runtime shares: the call contract, size checks, padding."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from pixelwise.export.capture import InputShape
from pixelwise.metrics.inputs import argmax_labels


class GraphRunner(ABC):
    """An exported graph, ready to run: ``(N, C, H, W)`` float32 -> ``(N, K, H, W)`` logits
    (calling it) or ``(N, H, W)`` int64 class labels (:meth:`labels`).

    The input is already normalised and at the working scale. Sizes the graph does not
    take are a user error (:meth:`InputShape.check`); H and W are padded to the graph's
    multiple before it runs and the outputs cropped back, as the model does inside.
    Outputs come back as CPU tensors on the input's device.
    """

    name: str

    def __init__(self, shape: InputShape) -> None:
        self.shape = shape

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return self.run(self._padded(x))[..., :height, :width].to(x.device)

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """The argmax of the logits over classes, ties to the lowest class: ``(N, H, W)``."""
        height, width = x.shape[-2:]
        labels = self.run_labels(self._padded(x))[..., :height, :width]
        return labels.to(x.device, torch.int64)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        self.shape.check(tuple(x.shape))
        return self.shape.pad(x.detach().to("cpu", torch.float32)).contiguous()

    @abstractmethod
    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The graph on a padded contiguous CPU ``(N, C, H', W')``: ``(N, K, H', W')``."""

    def run_labels(self, x: torch.Tensor) -> torch.Tensor:
        """The labels ``(N, H', W')`` of a padded contiguous CPU ``(N, C, H', W')``: by
        default the argmax of :meth:`run`'s logits; a runtime whose own argmax inside the
        graph is faster overrides it."""
        return argmax_labels(self.run(x))

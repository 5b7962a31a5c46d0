"""What every exported graph's runtime shares: the call contract, size checks, padding."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from pixelwise.export.capture import InputShape


class GraphRunner(ABC):
    """An exported graph, ready to run: ``(N, C, H, W)`` float32 -> ``(N, K, H, W)`` logits.

    The input is already normalised and at the working scale. Sizes the graph does not
    take are a user error (:meth:`InputShape.check`); H and W are padded to the graph's
    multiple before it runs and the logits cropped back, as the model does inside.
    The logits come back as a CPU float32 tensor on the input's device.
    """

    name: str

    def __init__(self, shape: InputShape) -> None:
        self.shape = shape

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.shape.check(tuple(x.shape))
        height, width = x.shape[-2:]
        padded = self.shape.pad(x.detach().to("cpu", torch.float32)).contiguous()
        logits = self.run(padded)[..., :height, :width]
        return logits.to(x.device)

    @abstractmethod
    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The graph on a padded contiguous CPU ``(N, C, H', W')``: ``(N, K, H', W')``."""

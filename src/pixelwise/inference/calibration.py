"""Calibration inputs for INT8 quantisation: images prepared exactly as for prediction."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from pixelwise.data.base import SegmentationDataset
from pixelwise.inference.segmenter import Segmenter
from pixelwise.models.saving import ModelCard


class _Recorder:
    """A backend that keeps every input it is called with and returns zero scores."""

    name = "recorder"

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.inputs: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().cpu().clone())
        return x.new_zeros(x.shape[0], self.num_classes, *x.shape[2:])


def calibration_inputs(
    model: nn.Module,
    card: ModelCard,
    dataset: SegmentationDataset,
    count: int,
    seed: int = 0,
    progress: bool = True,
) -> list[torch.Tensor]:
    """``count`` images drawn from ``dataset`` without replacement (seeded), each as the
    network input ``(1, C, H, W)`` float32 that the Segmenter would give the model
    (normalised, at the working scale). All images when ``count`` exceeds them."""
    order = np.random.default_rng(seed).permutation(len(dataset))[:count]
    segmenter = Segmenter(model, card, device="cpu")
    recorder = _Recorder(card.info.num_classes)
    segmenter.backend = recorder  # the Segmenter's own preparation, the network skipped
    for index in tqdm(order.tolist(), desc="calibration images", disable=not progress):
        image, _ = dataset[index]
        segmenter.logits(image)
    return recorder.inputs

"""OpenVINO's labels: the argmax inside its graph, or in PyTorch over the logits it returns.

    python benchmarks/graph_labels.py [--models lraspp,deeplabv3-mobilenet] [--size 512]
        [--threads 2] [--rounds 6] [--runtime openvino-bf16] [--out FILE]

For each model (seeded random weights, 21 classes, as in ``backends.py``), three
Segmenters predict the same seeded random S×S image, timed and checked as in
``runtime_threads.py``: eager PyTorch; the runtime (``--runtime``) giving the labels
itself, as :meth:`Segmenter.forward_labels` asks it to (OpenVINO adds the argmax to its
graph); and the same runtime returning the logits, whose argmax PyTorch takes
(:func:`pixelwise.metrics.inputs.argmax_labels`). With ``--runtime onnxruntime``,
whose labels are the argmax in PyTorch either way, the two rows measure the same path.
"""

from __future__ import annotations

from pathlib import Path

import torch
from runtime_threads import parse_args, run

from pixelwise.inference.benchmark import segmenter_on
from pixelwise.inference.segmenter import Segmenter
from pixelwise.metrics.inputs import argmax_labels

DEFAULT_OUT = Path(__file__).parent / "results" / "graph-labels.json"


class ArgmaxInTorch(Segmenter):
    """A Segmenter that takes the argmax of the backend's logits in PyTorch."""

    def forward_labels(self, x: torch.Tensor) -> torch.Tensor:
        return argmax_labels(self.forward_batch(x))


def segmenters(model: Path, threads: int, runtime: str) -> dict[str, Segmenter]:
    """Eager, ``runtime`` giving labels, and the same runner giving logits."""
    labels = segmenter_on(model, runtime, threads)
    return {
        "torch": segmenter_on(model, "torch", threads),
        f"{runtime}, labels from the runtime": labels,
        f"{runtime}, argmax in torch": ArgmaxInTorch(labels.backend, labels.card, "cpu"),
    }


if __name__ == "__main__":
    run(parse_args(__doc__.splitlines()[0], "openvino-bf16", DEFAULT_OUT), segmenters)

"""Exported models: ONNX, TorchScript and OpenVINO graphs with the model's card.

An exported folder holds the graph and the same ``config.json`` card as a saved model,
plus an ``export`` record (:mod:`pixelwise.export.record`); ``pixelwise.load`` opens it
like a model folder. Pre- and post-processing (working scale, normalisation, argmax)
stay outside the graph, in the card, so every backend shares them.

- :mod:`~pixelwise.export.capture`: one graph with free batch, height and width;
- :mod:`~pixelwise.export.onnx`, :mod:`~pixelwise.export.torchscript`,
  :mod:`~pixelwise.export.openvino`: each format's writer and runtime;
- :mod:`~pixelwise.export.quantize`: static INT8 quantisation of ONNX graphs;
- :mod:`~pixelwise.export.folder`: writing and opening the exported folder;
- :mod:`~pixelwise.export.exporter`: :func:`export_model`, all of it in one call.

The runtimes are optional extras: ``pixelwise[onnx]`` and ``pixelwise[openvino]``.
"""

from pixelwise.export.exporter import Calibration, check_options, export_model
from pixelwise.export.record import FORMATS

__all__ = ["FORMATS", "Calibration", "check_options", "export_model"]

"""The ``export`` record of an exported folder's ``config.json``: format, files, inputs.

An exported folder is a saved model's folder with the weights replaced by a graph:
``config.json`` holds the same card (classes, colours, normalisation, working scale,
ignore index) plus this record, which says how the graph was made, what inputs it takes
and the size and SHA-256 of each graph file, so that a truncated or replaced file is
caught before a runtime reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelwise.errors import PixelwiseError
from pixelwise.export.capture import InputShape

FORMATS = ("onnx", "torchscript", "openvino")
GRAPH_FILES = {
    "onnx": ("model.onnx",),
    "torchscript": ("model.pt",),
    "openvino": ("model.xml", "model.bin"),
}
# the backends that run each format, its default first
FORMAT_BACKENDS = {
    "onnx": ("onnxruntime", "openvino", "openvino-bf16"),
    "torchscript": ("torch",),
    "openvino": ("openvino", "openvino-bf16"),
}


def check_format(name: str) -> str:
    """``name`` if it is an export format; else a user error listing them."""
    if name not in FORMATS:
        raise PixelwiseError(f"unknown export format {name!r}; choose from: {', '.join(FORMATS)}")
    return name


@dataclass(frozen=True)
class FileStamp:
    """Size in bytes and SHA-256 (hex) of one graph file."""

    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return cls(path.stat().st_size, digest.hexdigest())

    def check(self, path: Path) -> None:
        """A user error naming ``path`` if it is missing, truncated or changed."""
        if not path.is_file():
            raise PixelwiseError(f"graph file '{path}' is missing")
        size = path.stat().st_size
        if size != self.size:
            raise PixelwiseError(
                f"graph file '{path}' has {size} bytes but config.json records {self.size}: "
                "it is truncated or was replaced; export the model again"
            )
        if FileStamp.of(path).sha256 != self.sha256:
            raise PixelwiseError(
                f"graph file '{path}' does not match the SHA-256 in config.json: it was "
                "changed after export; export the model again"
            )


@dataclass(frozen=True)
class ExportRecord:
    """How a graph was exported and what it takes.

    ``files`` maps each graph file name to its stamp; ``opset`` is the ONNX opset
    (None for TorchScript); ``int8`` describes the calibration of a statically quantised
    ONNX graph (None for float); ``torch`` is the PyTorch version that exported it.
    """

    format: str
    shape: InputShape
    files: dict[str, FileStamp]
    opset: int | None = None
    int8: dict[str, Any] | None = None
    torch: str = ""

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends that can run this graph, the default first."""
        return FORMAT_BACKENDS[self.format]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "input": self.shape.to_dict(),
            "files": {name: vars(stamp) for name, stamp in self.files.items()},
            "opset": self.opset,
            "int8": self.int8,
            "torch": self.torch,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExportRecord:
        files = {
            name: FileStamp(int(s["size"]), str(s["sha256"])) for name, s in d["files"].items()
        }
        record = cls(
            check_format(d["format"]),
            InputShape.from_dict(d["input"]),
            files,
            d.get("opset"),
            d.get("int8"),
            str(d.get("torch", "")),
        )
        if set(files) != set(GRAPH_FILES[record.format]):
            raise ValueError(
                f"files {sorted(files)} do not fit format {record.format!r}, which has "
                f"{list(GRAPH_FILES[record.format])}"
            )
        return record

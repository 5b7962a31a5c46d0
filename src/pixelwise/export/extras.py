"""Optional packages that export formats and runtimes need, and the extra that installs each.

A missing package is a user error with one line naming the ``pip install`` that brings it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from pixelwise.errors import PixelwiseError

# importable module -> the pixelwise extra that installs it
EXTRAS = {
    "onnx": "onnx",
    "onnxscript": "onnx",
    "onnxruntime": "onnx",
    "openvino": "openvino",
}


def install_hint(module: str) -> str:
    """``pip install "pixelwise[<extra>]"`` for an optional ``module``."""
    return f'pip install "pixelwise[{EXTRAS[module]}]"'


def installed(module: str) -> bool:
    """Whether the optional ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def require(module: str, purpose: str) -> ModuleType:
    """Import the optional ``module``; if it is missing, a user error naming the install.

    ``purpose`` completes "... needs <module>", e.g. ``"ONNX export"``.
    """
    if not installed(module):
        raise PixelwiseError(f"{purpose} needs the {module} package: {install_hint(module)}")
    return importlib.import_module(module)

"""Running trained models on new images."""

from pixelwise.inference.segmenter import Segmenter, load

__all__ = ["Segmenter", "load"]

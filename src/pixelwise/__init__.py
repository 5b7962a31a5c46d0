"""pixelwise: semantic segmentation with the classic networks and honest metrics."""

__version__ = "0.1.0"

from pixelwise.inference import Segmenter, load
from pixelwise.models import build_model, list_encoders, list_models

__all__ = ["Segmenter", "__version__", "build_model", "list_encoders", "list_models", "load"]

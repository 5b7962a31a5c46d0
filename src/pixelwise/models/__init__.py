"""Segmentation architectures and their building blocks."""

from pixelwise.models.encoders import build_encoder
from pixelwise.models.registry import build_model, list_encoders, list_models
from pixelwise.models.summary import ModelSummary, summary

__all__ = [
    "ModelSummary",
    "build_encoder",
    "build_model",
    "list_encoders",
    "list_models",
    "summary",
]

"""Segmentation architectures and their building blocks."""

from pixelwise.models.registry import build_model, list_encoders, list_models

__all__ = ["build_model", "list_encoders", "list_models"]

"""Classical (non-learned) segmentation behind the same fit/predict, save and score path.

``build(name, **params)`` makes a method; ``fit(dataset)`` learns what it needs from
training data (which side of a threshold, or which cluster, is which class);
``predict(image (H, W[, C]) uint8) -> (H, W)`` labels. A fitted method saves as a model
folder without weights and loads as a :class:`~pixelwise.inference.Segmenter`.
"""

from pixelwise.classical.base import ClassicalMethod
from pixelwise.classical.registry import build, list_methods, method_from_dict

__all__ = ["ClassicalMethod", "build", "list_methods", "method_from_dict"]

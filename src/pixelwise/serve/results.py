"""What ``POST /api/predict`` answers: a label or overlay PNG, or a JSON summary.

The JSON summary holds the image size, the seconds the prediction took (decoding and
prediction; ``queued_seconds`` waiting for a worker), each class's pixel count and
fraction, and, on request, the labels run-length encoded (:func:`run_lengths`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from pixelwise.inference.one_image import ImageResult

Output = Literal["labels", "overlay", "json"]
RLE_ENCODING = "row-major-runs"


def run_lengths(labels: np.ndarray) -> dict[str, Any]:
    """``(H, W)`` labels as runs in row-major order: ``values[i]`` repeated ``counts[i]``
    times, run after run, gives ``labels.ravel()``."""
    flat = labels.ravel()
    if flat.size == 0:
        return {"encoding": RLE_ENCODING, "values": [], "counts": []}
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    counts = np.diff(np.concatenate([starts, [flat.size]]))
    return {
        "encoding": RLE_ENCODING,
        "values": flat[starts].tolist(),
        "counts": counts.tolist(),
    }


def summary(
    result: ImageResult, model: str, queued_seconds: float, tta: list[str], rle: bool
) -> dict[str, Any]:
    """The JSON answer for one predicted image."""
    outputs = result.outputs
    info = outputs.info
    total = max(int(outputs.counts.sum()), 1)
    classes = [
        {"index": index, "name": name, "colour": list(colour), "pixels": int(count),
         "fraction": int(count) / total}
        for index, (name, colour, count) in enumerate(
            zip(info.classes, info.colours, outputs.counts, strict=True)
        )
    ]  # fmt: skip
    answer: dict[str, Any] = {
        "model": model,
        "width": result.header.width,
        "height": result.header.height,
        "seconds": round(result.seconds, 6),
        "queued_seconds": round(queued_seconds, 6),
        "tiled": result.tiled,
        "tta": tta,
        "classes": classes,
    }
    if rle:
        answer["mask"] = run_lengths(outputs.labels)
    return answer

"""The comparison report's pictures, as PNG bytes: curves, accuracy against cost, panels.

Plots are drawn with matplotlib's Agg canvas (no display needed); image panels are the
dataset's images, ground truth and predictions, reduced to thumbnails. Every picture
is returned as PNG bytes, to be embedded in the report as a data URI.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from pixelwise.data.base import Colour
from pixelwise.report.overlay import colorize, overlay, to_rgb

THUMBNAIL_SIDE = 200
"""Longer side of the report's image panels, in pixels (small images are enlarged)."""


def png_bytes(picture: np.ndarray) -> bytes:
    """``(H, W, 3)`` uint8 as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail(picture: np.ndarray, side: int = THUMBNAIL_SIDE, labels: bool = False) -> np.ndarray:
    """``(H, W, 3)`` uint8 with its longer side brought to about ``side`` pixels.

    Large pictures shrink (nearest neighbour for label colours, ``labels``, area
    averaging for photographs); small ones grow by a whole factor, pixels replicated.
    """
    height, width = picture.shape[:2]
    factor = side / max(height, width)
    if factor >= 2:
        whole = int(factor)
        return picture.repeat(whole, axis=0).repeat(whole, axis=1)
    if factor >= 1:
        return picture
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resample = Image.Resampling.NEAREST if labels else Image.Resampling.BOX
    return np.asarray(Image.fromarray(picture).resize(size, resample))


def panels(
    image: np.ndarray,
    mask: np.ndarray,
    colours: Sequence[Colour],
    ignore_index: int,
    predictions: Sequence[np.ndarray],
) -> tuple[bytes, bytes, list[bytes]]:
    """The input, its ground truth in class colours (ignored pixels white) and an overlay
    of each prediction on the input, each as a PNG thumbnail."""
    shown = to_rgb(image)
    truth = colorize(mask, colours, ignore_index)
    overlays = [png_bytes(thumbnail(overlay(shown, labels, colours))) for labels in predictions]
    return png_bytes(thumbnail(shown)), png_bytes(thumbnail(truth, labels=True)), overlays


def _canvas_png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def curves_png(curves: dict[str, list[dict[str, str]]]) -> bytes | None:
    """Validation mIoU and validation loss per epoch of every run, on shared axes.

    ``curves`` maps a run name to its ``metrics.csv`` rows. None when no run has any.
    """
    drawn = {name: rows for name, rows in curves.items() if rows}
    if not drawn:
        return None
    from matplotlib.ticker import MaxNLocator

    figure = _figure(11.0, 4.2 + 0.12 * len(drawn))
    miou_axes, loss_axes = figure.subplots(1, 2)
    for name, rows in drawn.items():
        epochs = [int(row["epoch"]) + 1 for row in rows]
        for axes, key in ((miou_axes, "val_miou"), (loss_axes, "val_loss")):
            values = [float(row[key]) if row.get(key) else np.nan for row in rows]
            axes.plot(epochs, values, marker=".", linewidth=1.2, label=name)
    miou_axes.set(xlabel="epoch", ylabel="validation mIoU", title="validation mIoU per epoch")
    loss_axes.set(xlabel="epoch", ylabel="validation loss", title="validation loss per epoch")
    for axes in (miou_axes, loss_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.legend(
        *miou_axes.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8
    )
    return _canvas_png(figure)


def cost_png(points: list[dict[str, Any]]) -> bytes | None:
    """mIoU against latency and against parameters, the Pareto front of each marked.

    ``points``: ``number``, ``miou``, ``latency_ms``, ``parameters`` and ``pareto``
    (``{"latency": bool, "parameters": bool}``) per configuration.
    """
    if not points:
        return None
    figure = _figure(11.0, 4.4)
    for axes, key, cost, label in zip(
        figure.subplots(1, 2),
        ("latency_ms", "parameters"),
        ("latency", "parameters"),
        ("CPU latency per image (ms)", "parameters"),
        strict=True,
    ):
        shown = [p for p in points if p[key] is not None]
        if not shown:
            axes.set_axis_off()
            continue
        front = sorted((p for p in shown if p["pareto"][cost]), key=lambda p: p[key])
        others = [p for p in shown if not p["pareto"][cost]]
        axes.scatter([p[key] for p in others], [p["miou"] for p in others], color="tab:gray")
        axes.plot(
            [p[key] for p in front],
            [p["miou"] for p in front],
            color="tab:red",
            marker="o",
            drawstyle="steps-post",
            label="Pareto front",
        )
        for p in shown:
            axes.annotate(
                str(p["number"]), (p[key], p["miou"]), textcoords="offset points", xytext=(4, 4)
            )
        values = [p[key] for p in shown]
        if min(values) > 0 and max(values) > 10 * min(values):  # spans orders of magnitude
            axes.set_xscale("log")
        axes.set(xlabel=label, ylabel="mIoU", title=f"mIoU against {cost}")
        axes.margins(0.1)
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=8)
    return _canvas_png(figure)

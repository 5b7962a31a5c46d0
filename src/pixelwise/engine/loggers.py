"""Curve loggers beside ``metrics.csv``: Lightning's TensorBoard logger into ``RUN/tensorboard``.

``metrics.csv`` is always written (by :class:`~pixelwise.engine.callbacks.EpochRecord`);
``train.logger: tensorboard`` also writes TensorBoard event files, with the training loss
per step and the validation loss and scores per epoch. The ``tensorboard`` package is
an optional extra (``pip install "pixelwise[tensorboard]"``).
"""

from __future__ import annotations

import importlib.util

from lightning.pytorch.loggers import Logger, TensorBoardLogger

from pixelwise.errors import PixelwiseError
from pixelwise.rundir import TENSORBOARD, RunDir


def tensorboard_installed() -> bool:
    """Whether a package that Lightning's TensorBoard logger writes with is installed."""
    return any(importlib.util.find_spec(package) for package in ("tensorboard", "tensorboardX"))


def check_logger(name: str) -> None:
    """Raise a user error when the logger ``name`` needs a package that is missing."""
    if name == "tensorboard" and not tensorboard_installed():
        raise PixelwiseError(
            "--logger tensorboard needs the tensorboard package: "
            'pip install "pixelwise[tensorboard]"'
        )


def build_logger(name: str, run: RunDir) -> Logger | bool:
    """The Trainer's ``logger`` argument for ``train.logger`` ``name``; ``False`` for none."""
    check_logger(name)
    if name == "tensorboard":
        # version="" writes the event files straight into RUN/tensorboard/, no version_N/
        return TensorBoardLogger(save_dir=run.root, name=TENSORBOARD, version="")
    return False

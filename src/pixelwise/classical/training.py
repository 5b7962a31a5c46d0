"""Fitting a classical method into a run directory, as ``fit`` trains a network into one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pixelwise.classical.base import ClassicalMethod
from pixelwise.classical.registry import build
from pixelwise.config import RunConfig
from pixelwise.data.registry import load_split
from pixelwise.errors import PixelwiseError
from pixelwise.models.card import ClassicalCard
from pixelwise.models.saving import save_classical
from pixelwise.rundir import RunDir

logger = logging.getLogger(__name__)


def configured_method(config: RunConfig) -> ClassicalMethod:
    """The unfitted method ``config.method`` names, its parameters checked.

    A bad method or parameter, or a setting a classical run cannot take, is a user error.
    """
    method = build(config.method.name, **config.method.params)
    if config.data.scale != 1:
        raise PixelwiseError(
            f"data.scale {config.data.scale} (working resolution) is for networks; "
            "classical methods work on the full-size images"
        )
    return method


def fit_classical(
    config: RunConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    command: str = "train",
    then: Callable[[RunDir], None] | None = None,
    on_start: Callable[[RunDir], None] | None = None,
) -> RunDir:
    """Fit ``config.method`` on the training split into the run directory ``config.out``.

    The method and its parameters are checked before any data loads. It leaves
    ``config.yaml`` (every parameter of the method, defaults included) and ``model/``
    (``config.json``: the method, its parameters and what it learned; no weights). A
    classical run has nothing to resume. ``on_start(run)`` runs once the folder is claimed;
    ``then(run)`` runs last, with the folder still locked.
    """
    method = configured_method(config)
    if resume:
        raise PixelwiseError("a classical method has nothing to resume; fit it again instead")
    run = RunDir(Path(config.out))
    train = load_split(config.data, config.data.train_split)
    load_split(config.data, config.data.val_split)
    resolved = replace(config, method=replace(config.method, params=method.params))
    with run.claim(resume=False, overwrite=overwrite, command=command):
        resolved.save(run.config)
        if on_start is not None:
            on_start(run)
        started = time.perf_counter()
        method.fit(train, progress=progress)
        seconds = time.perf_counter() - started
        logger.info("fitted %s on %d images in %.1f s", method.name, len(train), seconds)
        save_classical(run.model, ClassicalCard(method.to_dict(), train.info))
        if then is not None:
            then(run)
    return run

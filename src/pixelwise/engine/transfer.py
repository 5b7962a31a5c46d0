"""Transfer learning: pretrained encoder weights, freezing the encoder, and init from a model.

Models that have an encoder keep it as ``model.encoder``; :func:`encoder_of` finds it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning.pytorch as pl
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from pixelwise.config import RunConfig
from pixelwise.errors import PixelwiseError
from pixelwise.models.encoders import Encoder
from pixelwise.models.encoders.weights import load_encoder_weights
from pixelwise.models.pretrained import in_model_names
from pixelwise.models.saving import WEIGHTS_FILE, read_card, resolve_model_dir
from pixelwise.models.weights_file import read_weights

logger = logging.getLogger("pixelwise")


def encoder_of(model: nn.Module) -> Encoder | None:
    """The model's :class:`Encoder` (``model.encoder``), or None if it has none."""
    encoder = getattr(model, "encoder", None)
    return encoder if isinstance(encoder, Encoder) else None


def require_encoder(model: nn.Module, what: str) -> Encoder:
    """:func:`encoder_of`, with a user error naming ``what`` needs it when there is none."""
    encoder = encoder_of(model)
    if encoder is None:
        raise PixelwiseError(
            f"{what} needs a model with an encoder; {model.config['name']!r} has none"
        )
    return encoder


def load_pretrained_encoder(model: nn.Module, weights: str | os.PathLike) -> None:
    """Load a torchvision-format classifier state dict (a path or ``"imagenet"``) into the encoder.

    The encoder must be a built-in one (``model.config["encoder"]``), whose
    ``state_dict`` layout is torchvision's.
    """
    encoder = require_encoder(model, f"encoder weights '{weights}'")
    name = model.config.get("encoder")
    if not isinstance(name, str) or name.startswith("timm:"):
        raise PixelwiseError(
            f"encoder weights '{weights}' need a built-in encoder; the model's is {name!r}"
        )
    load_encoder_weights(encoder, name, weights)


def set_encoder_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) the model's encoder.

    Frozen: no gradients, and BatchNorm in eval mode (running statistics fixed).
    Unfrozen: gradients, and BatchNorm in the model's own mode.
    """
    encoder = require_encoder(model, "freezing the encoder")
    encoder.requires_grad_(not frozen)
    for module in encoder.modules():
        if isinstance(module, _BatchNorm):
            module.train(model.training and not frozen)


class FreezeEncoder(pl.Callback):
    """Keeps the module's ``model`` encoder frozen for the first ``epochs`` epochs.

    The state is applied before every training batch, so it holds however often
    Lightning switches the module back to training mode (each epoch, after validation).
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: object, batch_idx: int
    ) -> None:
        set_encoder_frozen(pl_module.model, trainer.current_epoch < self.epochs)


def init_from(model: nn.Module, model_dir: str | Path) -> list[str]:
    """Copy every weight whose name and shape match from a saved pixelwise model into ``model``.

    ``model_dir`` is a saved-model folder or a run directory. The architectures must
    have the same name; weights saved under former key names are renamed (see
    :mod:`pixelwise.models.pretrained`). Returns the names of ``model``'s weights left as
    initialised (typically the classifier head, whose shape follows the number of classes).
    """
    folder = resolve_model_dir(model_dir)
    saved_name = read_card(folder).architecture.get("name")
    if saved_name != model.config["name"]:
        raise PixelwiseError(
            f"cannot init from '{folder}': it holds a {saved_name!r} model, "
            f"not {model.config['name']!r}"
        )
    saved = in_model_names(model, read_weights(folder / WEIGHTS_FILE))
    own = model.state_dict()
    matched = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise PixelwiseError(f"cannot init from '{folder}': no weight matches in name and shape")
    model.load_state_dict(matched, strict=False)
    skipped = [k for k in own if k not in matched]
    if skipped:
        logger.info(
            "init from '%s': %d weight(s) kept as initialised: %s",
            folder,
            len(skipped),
            ", ".join(skipped),
        )
    return skipped


def check_transfer(model: nn.Module, config: RunConfig) -> None:
    """Raise a user error naming the first transfer-learning setting that ``model`` cannot take."""
    weights, train = config.model.encoder_weights, config.train
    if weights is not None and train.init_from is not None:
        raise PixelwiseError(
            f"give encoder weights ('{weights}') or init from a model ('{train.init_from}'), "
            "not both"
        )
    if train.freeze_encoder_epochs > 0:
        require_encoder(model, "freezing the encoder")
    if train.encoder_lr_mult != 1.0:
        require_encoder(model, f"encoder lr multiplier {train.encoder_lr_mult}")


def start_from(model: nn.Module, config: RunConfig) -> None:
    """Load the configured starting weights into ``model``: encoder weights or a saved model."""
    if config.model.encoder_weights is not None:
        load_pretrained_encoder(model, config.model.encoder_weights)
    if config.train.init_from is not None:
        init_from(model, config.train.init_from)

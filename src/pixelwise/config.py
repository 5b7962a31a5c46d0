"""Typed run configuration, read from and written to YAML.

A run is fully described by a :class:`RunConfig`. A YAML file and command-line
flags are two spellings of the same thing: flags override the file, and the
resolved configuration is written back into the run directory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pixelwise.errors import PixelwiseError
from pixelwise.files import write_text_atomic


@dataclass
class ModelSection:
    """Which architecture: ``name``, optional ``encoder``, and its keyword ``options``.

    ``encoder_weights`` (a torchvision-format classifier state dict, or ``"imagenet"``)
    is loaded into the encoder when training starts; saved models do not refer to it.
    """

    name: str = "unet"
    encoder: str | None = None
    encoder_weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    """Which data and how it is batched.

    ``options`` go to :func:`pixelwise.data.load_dataset` for every split (for
    example ``images``/``masks`` for ``folder``, ``val_slices`` for ``isbi2012``);
    ``split_options`` add to or override them for one split, e.g.
    ``{"val": {"num_images": 200}}``.
    ``crop`` is the training crop ``[H, W]``; validation always sees whole images.
    ``augment`` lists the training augmentation steps, e.g.
    ``[{"name": "scale_crop", "scale": [0.5, 2.0]}, {"name": "hflip"}]`` (see
    :mod:`pixelwise.data.augment`); ``None`` is a random crop and a horizontal flip.
    ``num_workers: null`` picks 0 on the CPU and up to 8 on a GPU.
    ``train_repeats`` draws every training image that many times per epoch, each time
    with fresh augmentation: for small datasets such as ISBI 2012's 15 slices.
    ``scale`` is the working resolution: images and masks are resized by this factor
    before augmentation (and for validation), and the saved model resizes its inputs
    the same way, then upsamples its class scores back, so predictions and evaluation
    stay at each image's full size.
    """

    name: str = "synthetic"
    root: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    options: dict[str, Any] = field(default_factory=dict)
    split_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    crop: list[int] | None = None
    augment: list[dict[str, Any]] | None = None
    train_repeats: int = 1
    scale: float = 1.0
    batch_size: int = 8
    num_workers: int | None = None

    def options_for(self, split: str) -> dict[str, Any]:
        """The dataset options for ``split``: ``options`` updated by ``split_options[split]``."""
        return {**self.options, **self.split_options.get(split, {})}


@dataclass
class TrainSection:
    """Optimisation and transfer learning.

    ``optimizer`` is ``"adamw"`` (cosine schedule after ``warmup_steps`` of linear
    warmup) or ``"sgd"`` (momentum 0.9, poly schedule); see :mod:`pixelwise.engine.optim`.
    ``loss`` is a loss spec such as ``"ce"`` or ``"ce+0.5*dice"`` (see
    :func:`pixelwise.losses.build_loss`). ``class_weights`` is one weight per class, or
    a method (``"median_frequency"``, ``"inverse"``, ``"inverse_sqrt"``) that computes
    them from the training split.
    ``encoder_lr_mult`` scales the encoder's learning rate; ``freeze_encoder_epochs``
    freezes the encoder for the first epochs; ``init_from`` is a saved model or run
    directory of the same architecture whose matching weights start the training.
    ``accelerator``, ``devices``, ``num_nodes``, ``strategy`` (e.g. ``"ddp"``) and
    ``precision`` (``"32"``, ``"bf16-mixed"``, ``"16-mixed"``, ...) go to Lightning's
    Trainer; see :mod:`pixelwise.engine.hardware`.
    """

    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "ce"
    class_weights: list[float] | str | None = None
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    optimizer: str = "adamw"
    warmup_steps: int = 0
    encoder_lr_mult: float = 1.0
    freeze_encoder_epochs: int = 0
    init_from: str | None = None


@dataclass
class MethodSection:
    """A classical method in place of a network: ``name`` and its ``params``.

    ``name`` is one of :func:`pixelwise.classical.list_methods` (e.g. ``"otsu"``,
    ``"kmeans"``), ``params`` its keyword parameters (e.g. ``{"k": 6}``). With a
    ``name``, the run fits that method on the training split, and the ``model`` and
    ``train`` sections are not used; ``None`` trains the network that ``model`` names.
    """

    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """Everything that defines a training run."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    method: MethodSection = field(default_factory=MethodSection)
    seed: int = 0
    out: str = "runs/latest"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Build from nested plain data; an unknown key is an error naming it."""
        return _build(cls, raw, source)

    def save(self, path: str | Path) -> None:
        """Write as YAML, atomically (temporary file, then rename)."""
        write_text_atomic(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise PixelwiseError(f"{where}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise PixelwiseError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(fields)}"
        )
    values = {}
    for name, value in raw.items():
        nested = _SECTIONS.get((cls, name))
        values[name] = _build(nested, value, f"{where}.{name}") if nested else value
    return cls(**values)


_SECTIONS = {
    (RunConfig, "model"): ModelSection,
    (RunConfig, "data"): DataSection,
    (RunConfig, "train"): TrainSection,
    (RunConfig, "method"): MethodSection,
}


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML run configuration; a missing or malformed file is a user error."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PixelwiseError(f"config file not found: '{path}'") from None
    except yaml.YAMLError as err:
        raise PixelwiseError(f"cannot parse config '{path}': {err}") from None
    return RunConfig.from_dict(raw or {}, source=str(path))


def merge(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Apply dotted-key overrides such as ``{"train.epochs": 3}``; ``None`` values are skipped."""
    raw = config.to_dict()
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return RunConfig.from_dict(raw)

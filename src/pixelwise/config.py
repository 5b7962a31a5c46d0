"""Typed run configuration, read from and written to YAML.

A run is fully described by a :class:`RunConfig`. Each option is spelled once, as a
field whose :class:`~pixelwise.options.Option` metadata holds its help, the values it
accepts and its flag: a YAML file and the command-line flags are two spellings of the
same options, checked by the same code. Flags override the file, and the resolved
configuration is written back into the run directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pixelwise.errors import PixelwiseError, excerpt
from pixelwise.files import write_text_atomic
from pixelwise.options import (
    AnyOf,
    Integer,
    ListOf,
    Mapping,
    MappingList,
    Number,
    Option,
    Optional,
    Text,
    ValueMap,
    checked,
)

WEIGHT_METHODS: tuple[str, ...] = ("median_frequency", "inverse", "inverse_sqrt")
"""Class weights computed from the training split (see :mod:`pixelwise.data.stats`)."""

WORKING_SCALE = Number(minimum=0, maximum=4, exclusive_minimum=True)
"""The working-resolution factors a run (``data.scale``) and a model card accept."""

DATA_COMMANDS = ("train", "evaluate", "inspect", "compare", "plan")
"""Commands that take the data flags."""

MODEL_COMMANDS = ("train", "summary", "compare")
"""Commands that take the encoder and model-option flags."""

TRAIN_ONLY = ("train",)
"""For options that a comparison sets per run (seed, run folder, classical method)."""

MEMORY_FORMATS: tuple[str, ...] = ("auto", "channels_last", "contiguous")
"""Training memory formats (see :mod:`pixelwise.engine.speed`)."""

LOGGERS: tuple[str, ...] = ("none", "tensorboard")
"""Curve loggers beside ``metrics.csv`` (see :mod:`pixelwise.engine.loggers`)."""


def option(default: Any = None, *, factory: Any = None, **metadata: Any) -> Any:
    """A dataclass field holding ``default`` (or ``factory()``) and its :class:`Option`."""
    meta = {"option": Option(**metadata)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelSection:
    """Which architecture: ``name``, optional ``encoder``, and its keyword ``options``.

    ``encoder_weights`` (a torchvision-format classifier state dict, or ``"imagenet"``)
    is loaded into the encoder when training starts; saved models do not refer to it.
    """

    name: str = option(
        "unet", kind=Text(), flag="--model", help="architecture: {models}", metavar="NAME"
    )
    encoder: str | None = option(
        kind=Optional(Text()),
        help="encoder, for models that take one: {encoders}",
        commands=MODEL_COMMANDS,
    )
    encoder_weights: str | None = option(
        kind=Optional(Text()),
        metavar="PATH|imagenet",
        help="torchvision-format classifier weights loaded into the encoder before training",
    )
    options: dict[str, Any] = option(
        factory=dict,
        kind=Mapping(),
        flag="--model-option",
        metavar="KEY=VALUE",
        help="architecture option, e.g. base_width=32 (repeatable; see `pixelwise models`)",
        commands=MODEL_COMMANDS,
    )


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
    stay at each image's full size. ``cache_mb`` bounds the memory of the pairs kept
    decoded at that scale (see :mod:`pixelwise.data.cache`). ``normalization``
    (``{"mean": [...], "std": [...]}``, one per channel, in 0..1 units) replaces the
    default ImageNet statistics; it goes into the saved model's card.
    """

    name: str = option(
        "synthetic", kind=Text(), flag="--data", help="dataset: {datasets}", commands=DATA_COMMANDS
    )
    root: str | None = option(
        kind=Optional(Text()),
        flag="--data-root",
        metavar="DIR",
        help="dataset folder (for datasets stored on disk)",
        commands=DATA_COMMANDS,
    )
    train_split: str = option("train", kind=Text(), help="split to train on")
    val_split: str = option(
        "val", kind=Text(), help="split that picks the best epoch and is scored after training"
    )
    options: dict[str, Any] = option(
        factory=dict,
        kind=Mapping(),
        flag="--data-option",
        metavar="KEY=VALUE",
        help="dataset option, e.g. val_fraction=0.1 (repeatable)",
        commands=DATA_COMMANDS,
    )
    split_options: dict[str, dict[str, Any]] = option(
        factory=dict, kind=Mapping(Mapping()), flag=None, help="dataset options of one split"
    )
    crop: list[int] | None = option(
        kind=Optional(ListOf(Integer(minimum=1), length=2)),
        metavar=("H", "W"),
        help="training crop size",
    )
    augment: list[dict[str, Any]] | None = option(
        kind=Optional(MappingList()), flag=None, help="training augmentation steps"
    )
    train_repeats: int = option(
        1, kind=Integer(minimum=1), metavar="N", help="draw every training image N times an epoch"
    )
    scale: float = option(
        1.0,
        kind=WORKING_SCALE,
        metavar="F",
        help="working resolution: train on images resized by F; predictions are still "
        "made at full size",
    )
    normalization: dict[str, list[float]] | None = option(
        kind=Optional(Mapping(ListOf(Number()))),
        flag=None,
        help="per-channel mean and std (0..1 units) that images are normalised with "
        "(default: ImageNet's; a plan takes the data's own)",
    )
    batch_size: int = option(8, kind=Integer(minimum=1), metavar="N", help="training batch size")
    cache_mb: float = option(
        2048,
        kind=Number(minimum=0),
        metavar="MB",
        help="memory (MiB) for training and validation images kept decoded at the working "
        "scale; the rest are decoded each time (0: none kept)",
        resumable=True,
    )
    num_workers: int | None = option(
        kind=Optional(Integer(minimum=0)),
        flag="--workers",
        metavar="N",
        help="data loader processes (default: 0 on the CPU, up to 8 beside a GPU)",
        resumable=True,
    )

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
    Trainer; see :mod:`pixelwise.engine.hardware`. ``precision`` and ``memory_format``
    default to ``auto``, resolved when the run starts (see :mod:`pixelwise.engine.speed`).
    ``minutes`` is a wall-time budget that ends training at the epoch boundary nearest to
    it (see :mod:`pixelwise.engine.budget`); ``logger`` adds TensorBoard curves beside
    ``metrics.csv`` (see :mod:`pixelwise.engine.loggers`).
    """

    epochs: int = option(
        10,
        kind=Integer(minimum=1),
        metavar="N",
        help="training epochs (with --resume: extend the run to N epochs)",
        resumable=True,
    )
    minutes: float | None = option(
        kind=Optional(Number(minimum=0, exclusive_minimum=True)),
        metavar="M",
        commands=("train", "compare", "plan"),
        help="time budget: end training at the epoch boundary nearest to M minutes of "
        "training (a resumed run counts the time it already spent); --epochs stays the "
        "maximum and the length of the learning-rate schedule",
        resumable=True,
    )
    logger: str = option(
        "none",
        kind=Text(LOGGERS),
        metavar="|".join(LOGGERS),
        help="also log the curves to RUN/tensorboard/ (pip install 'pixelwise[tensorboard]')",
        resumable=True,
    )
    lr: float = option(
        1e-3, kind=Number(minimum=0, exclusive_minimum=True), metavar="X", help="learning rate"
    )
    weight_decay: float = option(1e-4, kind=Number(minimum=0), metavar="X", help="weight decay")
    loss: str = option(
        "ce",
        kind=Text(),
        metavar="SPEC",
        help="loss name or weighted sum, e.g. ce+0.5*dice: {losses}",
    )
    class_weights: list[float] | str | None = option(
        kind=Optional(AnyOf((Text(WEIGHT_METHODS), ListOf(Number(minimum=0))))),
        metavar="SPEC",
        help=f"{', '.join(WEIGHT_METHODS)} (computed from the training split), "
        "or one weight per class, e.g. 1,2.5,0.3",
    )
    accelerator: str = option("auto", kind=Text(), help="cpu, gpu or auto", resumable=True)
    devices: int | str = option(
        1,
        kind=AnyOf((Integer(minimum=1), Text(("auto",)))),
        help="devices per node: a count or auto",
        resumable=True,
    )
    num_nodes: int = option(
        1, kind=Integer(minimum=1), metavar="N", help="machines taking part", resumable=True
    )
    strategy: str = option(
        "auto", kind=Text(), help="auto, ddp, ddp_spawn, fsdp, ...", resumable=True
    )
    precision: str | int = option(
        "auto",
        kind=AnyOf((Text(), Integer())),
        help="auto (bf16-mixed where the hardware computes bfloat16 natively and the network "
        "gains from it, else 32-true), 32-true, bf16-mixed, 16-mixed (GPU), bf16-true, ...",
    )
    memory_format: str = option(
        "auto",
        kind=Text(MEMORY_FORMATS),
        metavar="|".join(MEMORY_FORMATS),
        help="layout of images and weights in training: auto (channels_last), "
        "channels_last, contiguous",
    )
    optimizer: str = option(
        "adamw",
        kind=Text(),
        metavar="adamw|sgd",
        help="adamw (cosine schedule) or sgd (momentum 0.9, poly schedule)",
    )
    warmup_steps: int = option(
        0, kind=Integer(minimum=0), metavar="N", help="adamw: linear warmup steps"
    )
    encoder_lr_mult: float = option(
        1.0, kind=Number(minimum=0), metavar="X", help="encoder learning rate = lr × X"
    )
    freeze_encoder_epochs: int = option(
        0,
        kind=Integer(minimum=0),
        metavar="N",
        help="freeze the encoder (weights and BatchNorm statistics) for the first N epochs",
    )
    init_from: str | None = option(
        kind=Optional(Text()),
        metavar="MODEL_DIR",
        help="start from the matching weights of a saved model or run of the same architecture "
        "(the data's classes may differ; the head is reinitialised)",
    )


@dataclass
class MethodSection:
    """A classical method in place of a network: ``name`` and its ``params``.

    ``name`` is one of :func:`pixelwise.classical.list_methods` (e.g. ``"otsu"``,
    ``"kmeans"``), ``params`` its keyword parameters (e.g. ``{"k": 6}``). With a
    ``name``, the run fits that method on the training split, and the ``model`` and
    ``train`` sections are not used; ``None`` trains the network that ``model`` names.
    """

    name: str | None = option(
        kind=Optional(Text()),
        flag="--method",
        metavar="NAME",
        help="fit a classical method instead of a network: {methods}",
        commands=TRAIN_ONLY,
    )
    params: dict[str, Any] = option(
        factory=dict,
        kind=Mapping(),
        flag="--param",
        metavar="KEY=VALUE",
        help="classical method parameter, e.g. k=6 (repeatable)",
        commands=TRAIN_ONLY,
    )


@dataclass(frozen=True)
class Shortcut:
    """A flag that sets one key of an options mapping, e.g. ``--upsample`` for
    ``model.options.upsample``."""

    flag: str
    key: str
    option: Option


def _shortcut(flag: str, key: str, kind: Any, metavar: str | None, help: str) -> Shortcut:
    commands = DATA_COMMANDS if key.startswith("data.") else MODEL_COMMANDS
    return Shortcut(flag, key, Option(help=help, kind=kind, metavar=metavar, commands=commands))


SHORTCUTS: tuple[Shortcut, ...] = (
    _shortcut("--upsample", "model.options.upsample", Text(), "MODE", "upsampling, e.g. bilinear"),
    _shortcut("--fusion", "model.options.fusion", Text(), "concat|sum", "skip fusion"),
    _shortcut(
        "--output-stride", "model.options.output_stride", Integer(1), "N", "encoder output stride"
    ),
    _shortcut("--separable", "model.options.separable", None, None, "depthwise-separable convs"),
    _shortcut("--images", "data.options.images", Text(), "DIR", "folder data: image folder"),
    _shortcut(
        "--masks", "data.options.masks", Text(), "DIR", "folder data: mask folder (same stems)"
    ),
    _shortcut(
        "--mask-values",
        "data.options.mask_values",
        ValueMap(),
        "V:C,...",
        "folder data: stored value -> class, e.g. 0:0,255:1 (* for every other value)",
    ),
    _shortcut(
        "--classes", "data.options.classes", ListOf(Text()), "A,B,...", "folder data: class names"
    ),
    _shortcut(
        "--pair-key",
        "data.options.pair_key",
        Text(),
        "REGEX",
        "folder data: pair files by the first group of REGEX in their names, e.g. '^(\\d+)_' "
        "(default: by stem)",
    ),
    _shortcut(
        "--manifest",
        "data.options.manifest",
        Text(),
        "FILE.csv",
        "folder data: samples from a CSV of image,mask[,roi][,split] (paths relative to it)",
    ),
    _shortcut(
        "--roi",
        "data.options.roi",
        Text(),
        "DIR",
        "folder data: regions of interest, paired like the masks; pixels outside are ignored",
    ),
    _shortcut(
        "--mask-colors",
        "data.options.mask_colors",
        Text(),
        "FILE|R,G,B:NAME;...",
        "folder data: colour masks, one colour a class in class order ('ignore' to ignore)",
    ),
    _shortcut(
        "--binarize",
        "data.options.binarize",
        Number(),
        "T",
        "folder data: binary masks, stored values above T are class 1",
    ),
    _shortcut(
        "--split-file",
        "data.options.split_files",
        Mapping(),
        "SPLIT=FILE",
        "folder data: the keys (or stems) of a split, one a line (repeatable)",
    ),
    _shortcut(
        "--ignore-index", "data.options.ignore_index", Integer(), "N", "folder data: ignored value"
    ),
    _shortcut(
        "--val-slices",
        "data.options.val_slices",
        ListOf(Integer(minimum=0)),
        "N,N,...",
        "isbi2012: validation slice numbers, e.g. 15,16,17,18,19",
    ),
)
"""Flags for single options of a model or dataset; ``kind=None`` is an on/off switch."""


@dataclass
class RunConfig:
    """Everything that defines a training run."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    method: MethodSection = field(default_factory=MethodSection)
    seed: int = option(
        0,
        kind=Integer(minimum=0),
        help="seed for data order, augmentation and weights",
        commands=(*TRAIN_ONLY, "plan"),
    )
    out: str = option(
        "runs/latest",
        kind=Text(),
        metavar="DIR",
        help="run directory",
        resumable=True,
        commands=TRAIN_ONLY,
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "config") -> RunConfig:
        """Build from nested plain data, checking every value; an error names the key."""
        return _build(cls, raw, source, "")

    def save(self, path: str | Path) -> None:
        """Write as YAML, atomically (temporary file, then rename)."""
        write_text_atomic(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))


_SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "data": DataSection,
    "train": TrainSection,
    "method": MethodSection,
}


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the configuration"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PixelwiseError(f"{source}: {where} must be a mapping, got {excerpt(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields), key=str)
    if unknown:
        raise PixelwiseError(
            f"{source}: unknown key {prefix}{unknown[0]}; valid keys: {', '.join(fields)}"
        )
    values = {}
    for name, value in raw.items():
        key = f"{prefix}{name}"
        if cls is RunConfig and name in _SECTIONS:
            values[name] = _build(_SECTIONS[name], value, source, f"{key}.")
        else:
            values[name] = checked(fields[name].metadata["option"].kind, value, f"{source}: {key}")
    return cls(**values)


def run_options(cls: type = RunConfig, prefix: str = "") -> Iterator[tuple[str, Option, Any]]:
    """Every run option as ``(dotted key, Option, default)``, section by section."""
    for item in dataclasses.fields(cls):
        key = f"{prefix}{item.name}"
        if cls is RunConfig and item.name in _SECTIONS:
            yield from run_options(_SECTIONS[item.name], f"{key}.")
            continue
        default = (
            item.default if item.default_factory is dataclasses.MISSING else item.default_factory()
        )
        yield key, item.metadata["option"], default


def resumable_keys() -> frozenset[str]:
    """The options that ``--resume`` may change."""
    return frozenset(key for key, meta, _ in run_options() if meta.resumable)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key (where YAML would silently
    keep the last value)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is repeated", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path, what: str) -> Any:
    """The YAML document in ``path`` (a ``what``, e.g. "config file", for the messages);
    a missing, unreadable or malformed file, or a mapping that repeats a key, is a user
    error naming the key and line."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise PixelwiseError(f"{what} not found: '{path}'") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PixelwiseError(f"cannot read {what} '{path}': {err}") from None
    except yaml.YAMLError as err:
        raise PixelwiseError(f"cannot parse {what} '{path}'{_where(err)}") from None


def _where(error: yaml.YAMLError) -> str:
    """``: line L, column C: the problem`` of a YAML error, on one line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{place}: {problem}"


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML run configuration; a missing or malformed file is a user error."""
    return RunConfig.from_dict(read_yaml(path, "config file"), source=str(path))


def flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def merge(
    config: RunConfig, overrides: dict[str, Any], source: str = "flags", skip_none: bool = True
) -> RunConfig:
    """Apply dotted-key overrides such as ``{"train.epochs": 3}``.

    ``None`` values are skipped (flags not given), unless ``skip_none`` is False: then
    they set the option to null, as YAML's ``null`` does.
    """
    raw = config.to_dict()
    for dotted, value in overrides.items():
        if value is None and skip_none:
            continue
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return RunConfig.from_dict(raw, source)


def differences(old: RunConfig, new: RunConfig) -> list[str]:
    """The dotted keys whose values differ between two configurations, sorted."""
    before, after = flatten(old.to_dict()), flatten(new.to_dict())
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))

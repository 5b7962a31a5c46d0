"""``fit``: train a model as a :class:`RunConfig` describes, into a run directory."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.accelerators import CUDAAccelerator
from lightning.pytorch.callbacks import TQDMProgressBar

from pixelwise.config import RunConfig, differences, load_config, resumable_keys
from pixelwise.data.augment import build_augmentation
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.registry import load_split
from pixelwise.data.stats import resolve_class_weights
from pixelwise.data.transforms import Normalization
from pixelwise.engine.budget import TimeBudget
from pixelwise.engine.callbacks import EpochRecord, SafeCheckpointIO, StepClock, read_checkpoint
from pixelwise.engine.datamodule import SegmentationDataModule, default_workers
from pixelwise.engine.hardware import (
    check_batches,
    check_hardware_names,
    trainer_hardware,
)
from pixelwise.engine.loggers import build_logger, check_logger
from pixelwise.engine.module import SegmentationModule
from pixelwise.engine.optim import check_optimisation
from pixelwise.engine.speed import resolve_speed
from pixelwise.engine.transfer import FreezeEncoder, check_transfer, start_from
from pixelwise.errors import PixelwiseError
from pixelwise.losses import build_loss, parse_loss_spec
from pixelwise.models import build_model
from pixelwise.models.registry import check_model_name
from pixelwise.models.saving import ModelCard
from pixelwise.rundir import RunDir

logger = logging.getLogger("pixelwise")

# Lightning announces its hardware choices at INFO on every run; keep warnings only.
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)


class TrainingProgress(TQDMProgressBar):
    """Lightning's progress bar for the training epochs, without a second bar for validation."""

    def init_validation_tqdm(self):
        bar = super().init_validation_tqdm()
        bar.disable = True
        return bar


@dataclass(frozen=True)
class TrainingPlan:
    """What :func:`fit` derives from a configuration before training starts."""

    train: SegmentationDataset
    val: SegmentationDataset
    model_config: dict
    card: ModelCard
    class_weights: list[float] | None


def check_settings(config: RunConfig) -> None:
    """The checks that need neither data nor this machine: model name, loss, optimisation,
    hardware names, logger, augmentation steps."""
    check_model_name(config.model.name)
    parse_loss_spec(config.train.loss)
    check_optimisation(config.train)
    check_hardware_names(config.train)
    check_logger(config.train.logger)
    data = config.data
    build_augmentation(data.augment, tuple(data.crop) if data.crop else None, 255, config.seed)


def plan(config: RunConfig, progress: bool = True) -> TrainingPlan:
    """Check everything a run needs before anything is written.

    The settings (:func:`check_settings`), then the data (every pair read and checked)
    and the processes it is shared by, then the architecture for its classes and
    channels, the class weights, and the transfer settings with the starting weights
    they load. (:func:`fit` checks this machine's devices first.)
    """
    check_settings(config)
    train = load_split(config.data, config.data.train_split)
    val = load_split(config.data, config.data.val_split)
    if train.info.classes != val.info.classes:
        raise PixelwiseError(
            f"train and val splits disagree on classes: {train.info.classes} vs {val.info.classes}"
        )
    info = train.info
    model = build_model(
        config.model.name,
        num_classes=info.num_classes,
        in_channels=info.channels,
        encoder=config.model.encoder,
        **config.model.options,
    )
    check_batches(config.train, len(train) * config.data.train_repeats, config.data.batch_size)
    check_transfer(model, config)
    start_from(model, config)
    weights = resolve_class_weights(config.train.class_weights, train, progress)
    build_loss(config.train.loss, info.num_classes, info.ignore_index, weights)
    normalization = data_normalization(config.data.normalization, info.channels)
    trained = {
        "precision": str(config.train.precision),
        "memory_format": config.train.memory_format,
    }
    card = ModelCard(
        model.config, info, normalization, input_scale=config.data.scale, training=trained,
        data=dataclasses.asdict(config.data),
    )  # fmt: skip
    return TrainingPlan(train, val, model.config, card, weights)


def data_normalization(given: dict[str, list[float]] | None, channels: int) -> Normalization:
    """``data.normalization`` checked against the data's ``channels`` (ImageNet's when
    not given)."""
    if given is None:
        return Normalization.default(channels)
    if set(given) != {"mean", "std"}:
        raise PixelwiseError(f"data.normalization needs 'mean' and 'std', got {sorted(given)}")
    mean, std = given["mean"], given["std"]
    if len(mean) != channels or len(std) != channels or min(std) <= 0:
        raise PixelwiseError(
            f"data.normalization needs {channels} means and {channels} positive stds (one "
            f"per channel), got mean {mean}, std {std}"
        )
    return Normalization(tuple(mean), tuple(std))


def check_resume(run: RunDir, config: RunConfig) -> Path:
    """The checkpoint to resume from, after checking that ``config`` may continue the run.

    Only the options marked resumable (epochs, hardware, loader processes) may differ
    from the run's ``config.yaml``. A ``last.ckpt`` that cannot be read falls back to
    ``previous.ckpt`` with a warning; when neither can be read, the error names the file.
    """
    saved, _ = resolve_speed(load_config(run.config))
    changed = [key for key in differences(saved, config) if key not in resumable_keys()]
    if changed:
        raise PixelwiseError(
            f"--resume cannot change {changed[0]} (the run has {_value(saved, changed[0])!r}, "
            f"now {_value(config, changed[0])!r}); continue with the run's own settings, or "
            "start a new run with another --out"
        )
    problems = []
    for path in (run.last_checkpoint, run.previous_checkpoint):
        if not path.exists():
            continue
        try:
            read_checkpoint(path)
        except PixelwiseError as err:
            problems.append(str(err))
            continue
        for problem in problems:
            logger.warning("%s; resuming from '%s' instead", problem, path)
        return path
    raise PixelwiseError(problems[0])


def _value(config: RunConfig, dotted: str) -> object:
    node: object = config.to_dict()
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _trainer(
    config: RunConfig,
    run: RunDir,
    card: ModelCard,
    progress: bool,
    extra: Sequence[pl.Callback] = (),
) -> pl.Trainer:
    clock = StepClock()
    callbacks: list[pl.Callback] = [clock, EpochRecord(run, card, clock), *extra]
    if config.train.freeze_encoder_epochs > 0:
        callbacks.append(FreezeEncoder(config.train.freeze_encoder_epochs))
    if config.train.minutes is not None:
        callbacks.append(TimeBudget(config.train.minutes))
    if progress:
        callbacks.append(TrainingProgress(refresh_rate=5))
    return pl.Trainer(
        max_epochs=config.train.epochs,
        **trainer_hardware(config.train),
        callbacks=callbacks,
        plugins=[SafeCheckpointIO(previous=run.previous_checkpoint)],
        logger=build_logger(config.train.logger, run),
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        default_root_dir=run.root,
    )


@contextmanager
def batch_norm_hint(batch_size: int) -> Iterator[None]:
    """Turn BatchNorm's one-value-per-channel failure into a user error with the fix.

    BatchNorm after global pooling (DeepLab's image pooling) sees one value per channel
    when a training batch holds one image, which PyTorch refuses.
    """
    try:
        yield
    except ValueError as err:
        if "Expected more than 1 value per channel" not in str(err):
            raise
        raise PixelwiseError(
            f"batch size {batch_size} is too small for this model: BatchNorm after global "
            "pooling needs at least 2 images per training batch; raise --batch-size"
        ) from None


def fit(
    config: RunConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    command: str = "train",
    then: Callable[[RunDir], None] | None = None,
    callbacks: Sequence[pl.Callback] = (),
    on_start: Callable[[RunDir], None] | None = None,
) -> RunDir:
    """Train into the run directory ``config.out``, then call ``then(run)``.

    It leaves ``config.yaml``, ``metrics.csv``, ``checkpoints/`` and ``model/`` there.
    ``model/`` holds the weights of the epoch with the best validation mIoU; it and
    ``checkpoints/last.ckpt`` are written at the end of every epoch. ``resume``
    continues from the last finished epoch. The run folder is locked from the first
    write to the end of ``then`` (e.g. the final evaluation), so no second run writes
    there meanwhile. Under multi-process training (``strategy: ddp``) the other
    processes exit when training ends, and only process 0 returns. ``callbacks`` are
    Lightning callbacks added to the run's own (a benchmark's timer, say);
    ``on_start(run)`` runs once the folder is claimed and ``config.yaml`` written.
    """
    run = RunDir(Path(config.out))
    trainer_hardware(config.train)  # this machine has the devices asked for
    config, choices = resolve_speed(config)
    prepared = plan(config, progress)
    for key, choice in choices.items():
        logger.info("training %s: %s (%s)", key.replace("_", " "), choice.value, choice.reason)
    resume_from = check_resume(run, config) if resume else None
    trainer = _trainer(config, run, prepared.card, progress, callbacks)
    if not trainer.is_global_zero:
        _train(trainer, config, prepared, resume_from, progress)
        raise SystemExit(0)  # a script-launched DDP worker: process 0 saves and reports alone
    with run.claim(resume, overwrite, command):
        config.save(run.config)
        if on_start is not None:
            on_start(run)
        _train(trainer, config, prepared, resume_from, progress)
        if then is not None:
            then(run)
    return run


def _train(
    trainer: pl.Trainer,
    config: RunConfig,
    prepared: TrainingPlan,
    resume_from: Path | None,
    progress: bool,
) -> None:
    pl.seed_everything(config.seed, workers=True, verbose=False)
    module = SegmentationModule(
        prepared.model_config,
        ignore_index=prepared.card.info.ignore_index,
        train=config.train,
        class_weights=prepared.class_weights,
    )
    if resume_from is None:
        start_from(module.model, config)
    on_gpu = isinstance(trainer.accelerator, CUDAAccelerator)
    workers = config.data.num_workers
    data = SegmentationDataModule(
        prepared.train,
        prepared.val,
        prepared.card.normalization,
        config.data,
        num_workers=default_workers(on_gpu) if workers is None else workers,
        seed=config.seed,
        pin_memory=on_gpu,
        progress=progress,
    )
    with batch_norm_hint(config.data.batch_size):
        trainer.fit(module, datamodule=data, ckpt_path=resume_from)

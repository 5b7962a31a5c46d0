"""``fit``: train a model as a :class:`RunConfig` describes, into a run directory."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.accelerators import CUDAAccelerator
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar

from pixelwise.config import RunConfig
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.registry import load_split
from pixelwise.data.stats import resolve_class_weights
from pixelwise.data.transforms import Normalization, check_scale
from pixelwise.engine.callbacks import MetricsCSV
from pixelwise.engine.datamodule import SegmentationDataModule, default_workers
from pixelwise.engine.hardware import trainer_hardware
from pixelwise.engine.module import SegmentationModule
from pixelwise.engine.optim import check_optimisation
from pixelwise.engine.transfer import FreezeEncoder, check_transfer, start_from
from pixelwise.errors import PixelwiseError
from pixelwise.losses import parse_loss_spec
from pixelwise.models import build_model
from pixelwise.models.registry import check_model_name
from pixelwise.models.saving import ModelCard, save_model
from pixelwise.rundir import RunDir

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


def plan(config: RunConfig) -> TrainingPlan:
    """Load and check the data, then resolve the architecture for its classes and channels."""
    check_model_name(config.model.name)
    parse_loss_spec(config.train.loss)
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
    train_section = config.train
    check_optimisation(
        train_section.optimizer, train_section.warmup_steps, train_section.encoder_lr_mult
    )
    check_transfer(model, config)
    scale = check_scale(config.data.scale)
    card = ModelCard(model.config, info, Normalization.default(info.channels), input_scale=scale)
    return TrainingPlan(train, val, model.config, card)


def prepare_run_dir(run: RunDir, resume: bool, overwrite: bool) -> None:
    """Check that ``run`` may be resumed or written, and clear what a new run replaces."""
    if resume:
        if not run.last_checkpoint.exists():
            raise PixelwiseError(f"nothing to resume: '{run.last_checkpoint}' not found")
        return
    if run.holds_run() and not overwrite:
        raise PixelwiseError(
            f"'{run.root}' already holds a run; pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    for path in (run.checkpoints, run.model, run.metrics_csv, *run.root.glob("eval-*")):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _trainer(config: RunConfig, run: RunDir, progress: bool) -> tuple[pl.Trainer, ModelCheckpoint]:
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints, filename="best", monitor="val_miou", mode="max", save_last=True
    )
    callbacks: list[pl.Callback] = [checkpoint, MetricsCSV(run.metrics_csv)]
    if config.train.freeze_encoder_epochs > 0:
        callbacks.append(FreezeEncoder(config.train.freeze_encoder_epochs))
    if progress:
        callbacks.append(TrainingProgress(refresh_rate=5))
    trainer = pl.Trainer(
        max_epochs=config.train.epochs,
        **trainer_hardware(config.train),
        callbacks=callbacks,
        logger=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        default_root_dir=run.root,
    )
    return trainer, checkpoint


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
    config: RunConfig, resume: bool = False, overwrite: bool = False, progress: bool = True
) -> RunDir:
    """Train into the run directory ``config.out``.

    It leaves ``config.yaml``, ``metrics.csv``, ``checkpoints/`` and ``model/`` there.

    ``model/`` holds the weights of the epoch with the best validation mIoU.
    ``resume`` continues from ``checkpoints/last.ckpt``.
    Under multi-process training (``strategy: ddp``) the other processes exit when
    training ends, and only process 0 returns.
    """
    run = RunDir(Path(config.out))
    trainer, checkpoint = _trainer(config, run, progress)
    if trainer.is_global_zero:
        prepare_run_dir(run, resume, overwrite)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    prepared = plan(config)
    if trainer.is_global_zero:
        config.save(run.config)
    module = SegmentationModule(
        prepared.model_config,
        ignore_index=prepared.card.info.ignore_index,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        loss=config.train.loss,
        class_weights=resolve_class_weights(
            config.train.class_weights, prepared.train, progress=progress
        ),
        optimizer=config.train.optimizer,
        warmup_steps=config.train.warmup_steps,
        encoder_lr_mult=config.train.encoder_lr_mult,
    )
    if not resume:
        start_from(module.model, config)
    on_gpu = isinstance(trainer.accelerator, CUDAAccelerator)
    workers = config.data.num_workers
    if workers is None:
        workers = default_workers(on_gpu)
    data = SegmentationDataModule(
        prepared.train,
        prepared.val,
        prepared.card.normalization,
        batch_size=config.data.batch_size,
        crop=tuple(config.data.crop) if config.data.crop else None,
        num_workers=workers,
        seed=config.seed,
        augment=config.data.augment,
        pin_memory=on_gpu,
        train_repeats=config.data.train_repeats,
        scale=config.data.scale,
    )
    with batch_norm_hint(config.data.batch_size):
        trainer.fit(module, datamodule=data, ckpt_path=run.last_checkpoint if resume else None)
    if not trainer.is_global_zero:
        # a script-launched DDP worker: process 0 saves, evaluates and reports alone
        raise SystemExit(0)
    if checkpoint.best_model_path:
        module = SegmentationModule.load_from_checkpoint(
            checkpoint.best_model_path, map_location="cpu"
        )
    save_model(run.model, module.model.cpu(), prepared.card)
    return run

"""Transfer learning and optimisers: encoder weights, freezing, lr groups, schedules, init-from."""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pixelwise.cli import build_parser, main, run_config
from pixelwise.config import TrainSection
from pixelwise.data.base import DatasetInfo
from pixelwise.data.transforms import Normalization
from pixelwise.engine import optim
from pixelwise.engine.module import SegmentationModule
from pixelwise.engine.optim import build_optimizer, build_schedule, param_groups, poly_factor
from pixelwise.engine.transfer import (
    FreezeEncoder,
    encoder_of,
    init_from,
    load_pretrained_encoder,
)
from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.encoders import build_encoder
from pixelwise.models.saving import ModelCard, save_model

TINY_UNET = {"encoder": "resnet18", "decoder_channels": [8, 8, 8, 4, 4]}


def tiny_unet(num_classes: int = 3) -> nn.Module:
    return build_model("unet", num_classes, **TINY_UNET)


def classifier_file(tmp_path: Path) -> Path:
    """A torchvision-format ResNet-18 classifier state dict (random, with its ``fc`` head)."""
    torch.manual_seed(7)
    state = build_encoder("resnet18").state_dict()
    state |= {"fc.weight": torch.randn(10, 512), "fc.bias": torch.randn(10)}
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    return path


def saved_model(folder: Path, model: nn.Module, architecture: dict | None = None) -> Path:
    classes = tuple(f"c{i}" for i in range(model.config["num_classes"]))
    info = DatasetInfo(classes, tuple((i, i, i) for i in range(len(classes))))
    card = ModelCard(architecture or model.config, info, Normalization.default(3))
    return save_model(folder, model, card)


def test_encoder_of_finds_the_encoder_of_every_architecture_that_has_one() -> None:
    unet = tiny_unet()
    assert encoder_of(unet) is unet.encoder
    deeplab = build_model("deeplabv3", 3, encoder="resnet18")
    assert encoder_of(deeplab) is deeplab.encoder
    lraspp = build_model("lraspp", 3, encoder="mobilenet_v2", inter_channels=8)
    assert encoder_of(lraspp) is lraspp.encoder
    assert encoder_of(build_model("unet", 3, base_width=4, depth=2)) is None


def test_loaded_encoder_weights_match_build_encoder(tmp_path: Path) -> None:
    path = classifier_file(tmp_path)
    model = tiny_unet()
    load_pretrained_encoder(model, path)
    reference = build_encoder("resnet18", weights=path).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours = model.encoder.eval()(x)
        theirs = reference(x)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_encoder_weights_need_an_encoder(tmp_path: Path) -> None:
    model = build_model("unet", 3, base_width=4, depth=2)
    with pytest.raises(PixelwiseError, match="has none"):
        load_pretrained_encoder(model, classifier_file(tmp_path))


class Snapshots(pl.Callback):
    """The model's state after every training epoch."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.states.append({k: v.clone() for k, v in pl_module.model.state_dict().items()})


def train_epochs(module: SegmentationModule, epochs: int, callbacks: list) -> None:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(8, 3, 32, 32), torch.randint(0, 3, (8, 32, 32)))
    loader = DataLoader(data, batch_size=4)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=DataLoader(data, batch_size=1))


def test_frozen_encoder_stays_put_then_trains_after_unfreezing() -> None:
    module = SegmentationModule(tiny_unet().config, ignore_index=255, train=TrainSection(lr=0.01))
    before = {k: v.clone() for k, v in module.model.state_dict().items()}
    snapshots = Snapshots()
    train_epochs(module, 2, [FreezeEncoder(1), snapshots])
    frozen, unfrozen = snapshots.states
    encoder_keys = [f"encoder.{k}" for k in module.model.encoder.state_dict()]
    decoder_keys = [k for k in before if k not in encoder_keys and before[k].is_floating_point()]
    assert any(k.endswith("running_mean") for k in encoder_keys)
    for key in encoder_keys:
        assert torch.equal(frozen[key], before[key]), key
    assert any(not torch.equal(frozen[k], before[k]) for k in decoder_keys)
    changed = [k for k in encoder_keys if not torch.equal(unfrozen[k], frozen[k])]
    assert any(k.endswith("conv1.weight") for k in changed)
    assert any(k.endswith("running_mean") for k in changed)
    assert all(p.requires_grad for p in module.model.parameters())


def test_encoder_lr_mult_makes_two_groups() -> None:
    model = tiny_unet()
    groups = param_groups(model, model.encoder, lr=0.01, encoder_lr_mult=0.1)
    optimizer = build_optimizer("sgd", groups, lr=0.01, weight_decay=1e-4)
    encoder_group, rest_group = optimizer.param_groups
    assert encoder_group["lr"] == pytest.approx(0.001)
    assert rest_group["lr"] == pytest.approx(0.01)
    assert encoder_group["momentum"] == 0.9
    assert len(encoder_group["params"]) + len(rest_group["params"]) == len(list(model.parameters()))
    assert {id(p) for p in encoder_group["params"]} == {id(p) for p in model.encoder.parameters()}
    assert len(param_groups(model, model.encoder, lr=0.01, encoder_lr_mult=1.0)) == 1


def lrs(optimizer_name: str, total: int, warmup: int, lr: float = 0.1) -> list[float]:
    """The learning rate at each of ``total`` steps."""
    params = [nn.Parameter(torch.zeros(1))]
    optimizer = build_optimizer(optimizer_name, [{"params": params}], lr=lr, weight_decay=0.0)
    schedule = build_schedule(optimizer_name, optimizer, total, warmup)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return seen


def test_poly_schedule_follows_the_formula() -> None:
    seen = lrs("sgd", total=10, warmup=0)
    for step in (0, 3, 7, 9):
        assert seen[step] == pytest.approx(0.1 * (1 - step / 10) ** 0.9)
    assert poly_factor(10, 10) == 0.0


def test_adamw_without_warmup_is_plain_cosine() -> None:
    seen = lrs("adamw", total=10, warmup=0)
    for step in (0, 5, 9):
        assert seen[step] == pytest.approx(0.05 * (1 + math.cos(math.pi * step / 10)))


def test_warmup_ramps_then_decays() -> None:
    seen = lrs("adamw", total=20, warmup=4)
    assert seen[:5] == sorted(seen[:5]) and seen[0] < seen[3] < seen[4]
    assert seen[4] == pytest.approx(0.1)
    assert seen[5:] == sorted(seen[5:], reverse=True)


def test_init_from_keeps_matching_weights_and_reinitialises_the_head(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = tiny_unet(3)
    folder = saved_model(tmp_path / "model", source)
    torch.manual_seed(2)
    target = tiny_unet(5)
    skipped = init_from(target, folder)
    assert skipped and all(target.state_dict()[k].shape[0] == 5 for k in skipped)
    kept = [k for k in source.state_dict() if k not in skipped]
    for key in kept:
        assert torch.equal(target.state_dict()[key], source.state_dict()[key]), key
    assert any(k.startswith("encoder.") for k in kept)


def test_init_from_refuses_another_architecture(tmp_path: Path) -> None:
    source = tiny_unet()
    folder = saved_model(tmp_path / "model", source, {**source.config, "name": "fcn8s"})
    with pytest.raises(PixelwiseError, match="'fcn8s' model"):
        init_from(tiny_unet(), folder)


def test_init_from_refuses_when_nothing_matches(tmp_path: Path) -> None:
    folder = saved_model(tmp_path / "model", build_model("unet", 3, base_width=4, depth=2))
    with pytest.raises(PixelwiseError, match="no weight matches"):
        init_from(tiny_unet(5), folder)


TRANSFER_FLAGS = [
    "--encoder-weights", "imagenet", "--optimizer", "sgd", "--warmup-steps", "3",
    "--encoder-lr-mult", "0.1", "--freeze-encoder-epochs", "2", "--init-from", "runs/a",
]  # fmt: skip


def test_flags_fill_the_config() -> None:
    config = run_config(build_parser().parse_args(["train", *TRANSFER_FLAGS]))
    assert config.model.encoder_weights == "imagenet"
    train = config.train
    assert (train.optimizer, train.warmup_steps, train.encoder_lr_mult) == ("sgd", 3, 0.1)
    assert (train.freeze_encoder_epochs, train.init_from) == (2, "runs/a")


TINY_RUN = {
    "model": {"name": "unet", "encoder": "resnet18", "options": {"decoder_channels": [8] * 5}},
    "data": {
        "name": "synthetic",
        "options": {"size": 32, "seed": 3},
        "split_options": {"train": {"num_images": 4}, "val": {"num_images": 2}},
        "batch_size": 2,
    },
    "train": {"epochs": 2, "accelerator": "cpu"},
}


def test_train_with_transfer_options_end_to_end(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(TINY_RUN))
    weights = classifier_file(tmp_path)
    first = ["train", "--config", str(config), "--out", str(tmp_path / "a")]
    flags = ["--encoder-weights", str(weights), "--optimizer", "sgd", "--lr", "0.01"]
    assert main([*first, *flags, "--freeze-encoder-epochs", "1", "--encoder-lr-mult", "0.1"]) == 0
    saved = (tmp_path / "a" / "model" / "config.json").read_text()
    assert str(weights) not in saved
    second = ["train", "--config", str(config), "--out", str(tmp_path / "b")]
    assert main([*second, "--init-from", str(tmp_path / "a"), "--warmup-steps", "2"]) == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--optimizer", "adam"], "unknown optimizer 'adam'"),
        (["--warmup-steps", "-1"], "--warmup-steps expects an integer >= 0, got '-1'"),
        (["--optimizer", "sgd", "--warmup-steps", "2"], "adamw only"),
        (["--freeze-encoder-epochs", "-2"], "--freeze-encoder-epochs expects an integer >= 0"),
        (["--encoder-weights", "w.pth", "--init-from", "runs/a"], "not both"),
    ],
)
def test_bad_transfer_options_are_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(TINY_RUN))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "r"), *flags]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("optimizer_name", ["adamw", "sgd"])
def test_fused_step_matches_the_loop_over_parameters(optimizer_name: str) -> None:
    """The fused step pixelwise takes on the CPU updates as the loop over tensors does."""
    results = []
    for fused in (True, False):
        torch.manual_seed(0)
        model = tiny_unet()
        groups = param_groups(model, model.encoder, lr=0.01, encoder_lr_mult=0.1)
        optimizer = build_optimizer(optimizer_name, groups, lr=0.01, weight_decay=1e-4)
        assert all(group["fused"] for group in optimizer.param_groups)
        for group in optimizer.param_groups:
            group.update(fused=fused, foreach=False)
        for step in range(3):
            for index, parameter in enumerate(model.parameters()):
                gen = torch.Generator().manual_seed(100 * step + index)
                parameter.grad = torch.randn(parameter.shape, generator=gen)
            optimizer.step()
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(*results, rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    initial = torch.cat([p.detach().flatten() for p in tiny_unet().parameters()])
    assert not torch.allclose(results[0], initial)


def test_no_fused_step_where_pytorch_has_none() -> None:
    on_meta = nn.Parameter(torch.zeros(3, device="meta"))
    optimizer = build_optimizer("adamw", [{"params": [on_meta]}], lr=0.01, weight_decay=0.0)
    assert not optimizer.param_groups[0]["fused"]


@pytest.mark.parametrize("fused_here", [False, True])
def test_loaded_optimiser_state_keeps_this_machines_fused_flag(
    fused_here: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state saved where the step was fused (or not) loads with the flag of the PyTorch
    and device at hand, its moments and step counts intact."""
    torch.manual_seed(0)
    model = tiny_unet()
    groups = param_groups(model, model.encoder, lr=0.01, encoder_lr_mult=0.1)
    saved = build_optimizer("adamw", groups, lr=0.01, weight_decay=1e-4)
    for group in saved.param_groups:
        group["fused"] = not fused_here
    for parameter in model.parameters():
        parameter.grad = torch.ones_like(parameter)
    saved.step()
    state = saved.state_dict()
    monkeypatch.setattr(optim, "has_fused_step", lambda groups: fused_here)
    groups = param_groups(model, model.encoder, lr=0.01, encoder_lr_mult=0.1)
    loaded = build_optimizer("adamw", groups, lr=0.01, weight_decay=1e-4)
    loaded.load_state_dict(state)
    assert [group["fused"] for group in loaded.param_groups] == [fused_here] * 2
    assert all(group["fused"] is not fused_here for group in state["param_groups"])  # unchanged
    first = next(iter(model.parameters()))
    torch.testing.assert_close(loaded.state[first]["exp_avg"], saved.state[first]["exp_avg"])
    loaded.step()  # runs with the flag it has
    too_few = {**state, "param_groups": state["param_groups"][:1]}
    with pytest.raises(ValueError, match="different number of parameter groups"):
        loaded.load_state_dict(too_few)

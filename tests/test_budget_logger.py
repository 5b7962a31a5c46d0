"""Training budgets in minutes (the last epoch that fits ends them, resume continues them) and
TensorBoard curves in ``RUN/tensorboard``, owned by the run like its other files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import yaml

from pixelwise.cli import main
from pixelwise.engine.budget import TimeBudget
from pixelwise.rundir import RunDir

TINY = {
    "model": {"name": "unet", "options": {"base_width": 4, "depth": 2}},
    "data": {
        "name": "synthetic",
        "options": {"size": 32, "seed": 3},
        "split_options": {"train": {"num_images": 6}, "val": {"num_images": 2}},
        "batch_size": 3,
    },
    "train": {"epochs": 4, "accelerator": "cpu", "lr": 0.01},
}


def train(folder: Path, run: Path, *flags: str) -> int:
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    return main(["train", "--config", str(config), "--out", str(run), *flags])


def epochs(run: Path) -> int:
    return len((run / "metrics.csv").read_text().splitlines()) - 1


def spent(run: Path) -> float:
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = [v for k, v in checkpoint["callbacks"].items() if k.startswith("TimeBudget")]
    return state["spent_seconds"]


def test_a_spent_budget_ends_training_at_the_epoch_boundary_and_resume_continues_it(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    assert train(tmp_path, run, "--minutes", "0.0001") == 0
    assert epochs(run) == 1  # the first epoch always finishes; then the budget is spent
    first = spent(run)
    assert first > 0.006  # at least the 0.0001 minutes
    assert (run / "eval-val" / "metrics.json").is_file()
    assert train(tmp_path, run, "--resume", "--minutes", "1000", "--epochs", "2") == 0
    assert epochs(run) == 2
    assert spent(run) > first  # counted on from the time spent before, not from zero


def test_the_schedule_follows_the_larger_of_steps_and_time() -> None:
    budget = TimeBudget(minutes=1.0)
    budget.load_state_dict({"spent_seconds": 30.0})  # half the budget spent
    assert budget.schedule_step(10, 100) == 50.0
    assert budget.schedule_step(70, 100) == 70.0
    budget.load_state_dict({"spent_seconds": 300.0})
    assert budget.schedule_step(10, 100) == 100.0  # never past the end of the schedule


class Clock:
    """A stand-in for ``time.perf_counter`` that the test moves on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Trainer:
    should_stop = False


def run_epochs(budget: TimeBudget, clock: Clock, epochs: list[float]) -> list[float]:
    """Train epochs of the given seconds until ``budget`` stops them: the training seconds
    spent at each epoch's end."""
    trainer = Trainer()
    budget.on_train_start(trainer, None)
    ended = []
    for seconds in epochs:
        clock.now += seconds
        budget.on_train_epoch_end(trainer, None)
        ended.append(budget.spent)
        if trainer.should_stop:
            break
    return ended


def test_training_stops_at_the_epoch_boundary_nearest_to_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr("pixelwise.engine.budget.time.perf_counter", clock)
    budget = TimeBudget(minutes=1.0)
    ended = run_epochs(budget, clock, [10.0, 14.0, 12.0, 11.0, 10.0, 10.0])
    # at 47 s another 14-s epoch (the longest) would end 1 s past the minute, nearer than
    # the 13 s short of it now: it runs; at 57 s it would end 11 s past, farther than 3 s
    assert ended == [10.0, 24.0, 36.0, 47.0, 57.0]
    assert budget.expected_end() == 57.0
    assert budget.schedule_step(0, 100) == 100.0  # the schedule has ended where the run does
    long = TimeBudget(minutes=1.0)  # 35-s epochs: one ends 25 s short, two 10 s over
    assert run_epochs(long, clock, [35.0, 35.0, 35.0]) == [35.0, 70.0]


def test_the_schedule_is_laid_over_the_expected_end(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("pixelwise.engine.budget.time.perf_counter", clock)
    budget = TimeBudget(minutes=1.0)
    assert run_epochs(budget, clock, [35.0]) == [35.0]
    assert budget.expected_end() == 70.0  # two epochs of 35 s: the nearest boundary
    clock.now += 17.5  # half-way through the second epoch, a quarter of the run left
    assert budget.schedule_step(0, 100) == 75.0


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed"
)
def test_tensorboard_curves_go_to_the_run_folder_and_are_the_runs_own(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert train(tmp_path, run, "--epochs", "2", "--logger", "tensorboard") == 0
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert {"val_miou", "val_loss", "train_loss_epoch"} <= set(events.Tags()["scalars"])
    assert len(events.Scalars("val_miou")) == 2  # one value per epoch
    assert RunDir(run).foreign_files() == []
    (run / "tensorboard" / "notes.txt").write_text("mine")
    assert RunDir(run).foreign_files() == [run / "tensorboard" / "notes.txt"]
    assert train(tmp_path, run, "--overwrite") == 2  # someone else's file: not cleared
    (run / "tensorboard" / "notes.txt").unlink()
    assert train(tmp_path, run, "--overwrite", "--epochs", "1") == 0  # logger none: cleared
    assert not (run / "tensorboard").exists()


def test_a_missing_tensorboard_is_one_error_naming_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr("pixelwise.engine.loggers.tensorboard_installed", lambda: False)
    assert train(tmp_path, tmp_path / "run", "--logger", "tensorboard") == 2
    assert 'pip install "pixelwise[tensorboard]"' in capsys.readouterr().err
    assert not (tmp_path / "run").exists()

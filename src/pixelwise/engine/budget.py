"""A wall-time budget for training that ends it cleanly at an epoch boundary, on time.

:class:`TimeBudget` counts the wall time of training (every epoch with its validation
and its end-of-epoch writes, from the moment Lightning starts training) and stops the
run at the end of the last epoch that fits the budget: after each epoch, when another
epoch as long as the longest one so far would not end within the budget, training
stops there. The last epoch is always whole, checkpointed and scored, and the run ends
within its budget unless its first epoch alone is longer. The time spent travels in the
checkpoint: a resumed run continues its budget from the time it had already spent,
instead of starting again from zero. Time between a kill and the resume is not counted.

The learning-rate schedule follows the budget too (:meth:`TimeBudget.schedule_step`):
its position is the larger of the step reached and the share of the budget spent up to
the point where the last epoch that fits ends, so a run that the clock ends still
anneals its learning rate to the end of the schedule, as a run of the full
``train.epochs`` would. The steps a run takes then depend on the
machine's speed: a time budget gives equal time, not equal computation.
"""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl


class TimeBudget(pl.Callback):
    """Stop training at the end of the last epoch that ends within ``minutes``.

    ``spent`` is the training time in seconds of earlier sessions of the run (read
    from the checkpoint on resume) plus the current one; ``longest_epoch`` the longest
    epoch of this session in seconds, validation and writes included.
    """

    def __init__(self, minutes: float) -> None:
        self.seconds = 60.0 * minutes
        self.spent_before = 0.0
        self.session_start: float | None = None
        self.epoch_ended_at = 0.0
        self.longest_epoch = 0.0

    @property
    def spent(self) -> float:
        """Seconds of training so far, earlier sessions included."""
        if self.session_start is None:
            return self.spent_before
        return self.spent_before + time.perf_counter() - self.session_start

    def schedule_step(self, step: int, total: int) -> float:
        """The step the learning-rate schedule reads at ``step`` of ``total``: the larger
        of ``step`` and the share of the budget spent times ``total``, the budget taken
        up to where the last epoch that fits ends (``seconds - longest_epoch``)."""
        horizon = self.seconds - self.longest_epoch
        share = 1.0 if horizon <= 0 else min(1.0, self.spent / horizon)
        return max(float(step), share * total)

    def another_epoch_fits(self) -> bool:
        """Whether an epoch as long as the longest so far still ends within the budget."""
        return self.spent + self.longest_epoch < self.seconds

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.session_start = self.epoch_ended_at = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        now = time.perf_counter()
        self.longest_epoch = max(self.longest_epoch, now - self.epoch_ended_at)
        self.epoch_ended_at = now
        if not self.another_epoch_fits():
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"spent_seconds": self.spent}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.spent_before = float(state_dict["spent_seconds"])
        self.session_start = None

"""A wall-time budget for training that ends it cleanly at the epoch boundary nearest to it.

:class:`TimeBudget` counts the wall time of training (every epoch with its validation
and its end-of-epoch writes, from the moment Lightning starts training) and stops the
run at the epoch boundary nearest to the budget: after each epoch, when another epoch
as long as the longest one so far would end farther past the budget than the time now
falls short of it, training stops there. The last epoch is always whole, checkpointed
and scored; the run ends within about half an epoch of its budget (a run of a few long
epochs is not cut to one, nor run a whole epoch over). The time spent travels in the
checkpoint: a resumed run continues its budget from the time it had already spent,
instead of starting again from zero. Time between a kill and the resume is not counted.

The learning-rate schedule follows the budget too (:meth:`TimeBudget.schedule_step`):
its position is the larger of the step reached and the share spent of the time at
which the run is expected to end (:meth:`TimeBudget.expected_end`), so a run that the
clock ends still anneals its learning rate to the end of the schedule, as a run of the
full ``train.epochs`` would. The steps a run takes then depend on the
machine's speed: a time budget gives equal time, not equal computation.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl


class TimeBudget(pl.Callback):
    """Stop training at the epoch boundary nearest to ``minutes``.

    ``spent`` is the training time in seconds of earlier sessions of the run (read
    from the checkpoint on resume) plus the current one; ``spent_at_boundary`` its
    value when the last epoch ended (or the session started); ``longest_epoch`` the
    longest epoch of this session in seconds, validation and writes included.
    """

    def __init__(self, minutes: float) -> None:
        self.seconds = 60.0 * minutes
        self.spent_before = 0.0
        self.session_start: float | None = None
        self.spent_at_boundary = 0.0
        self.longest_epoch = 0.0

    @property
    def spent(self) -> float:
        """Seconds of training so far, earlier sessions included."""
        if self.session_start is None:
            return self.spent_before
        return self.spent_before + time.perf_counter() - self.session_start

    def schedule_step(self, step: int, total: int) -> float:
        """The step the learning-rate schedule reads at ``step`` of ``total``: the larger
        of ``step`` and the share of :meth:`expected_end` spent times ``total``."""
        share = min(1.0, self.spent / self.expected_end())
        return max(float(step), share * total)

    def another_epoch_ends_nearer(self, spent: float) -> bool:
        """Whether, at ``spent`` seconds, an epoch as long as the longest so far would end
        nearer to the budget than now."""
        return spent + self.longest_epoch / 2 < self.seconds

    def expected_end(self) -> float:
        """The training seconds at which the run is expected to stop: the boundary the
        stopping rule picks if every epoch to come is as long as the longest so far (the
        budget itself before the first epoch has ended)."""
        epoch = self.longest_epoch
        if epoch <= 0:
            return self.seconds
        more = max(0, math.ceil((self.seconds - epoch / 2 - self.spent_at_boundary) / epoch))
        return self.spent_at_boundary + more * epoch

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.session_start = time.perf_counter()
        self.spent_at_boundary = self.spent_before

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        spent = self.spent
        self.longest_epoch = max(self.longest_epoch, spent - self.spent_at_boundary)
        self.spent_at_boundary = spent
        if not self.another_epoch_ends_nearer(spent):
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"spent_seconds": self.spent}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.spent_before = self.spent_at_boundary = float(state_dict["spent_seconds"])
        self.session_start = None

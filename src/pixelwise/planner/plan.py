"""From a dataset to a complete, commented run configuration fitted to a time budget.

:func:`make_plan` fingerprints the training split, applies the rules of
:mod:`pixelwise.planner.rules`, and times the candidate networks on this machine (a U-Net
of base width 32, then 16, at each working scale from full resolution down, with
:func:`pixelwise.engine.steptime.training_speed`): the first candidate that still fits
:data:`~pixelwise.planner.rules.MIN_EPOCHS` epochs (or
:data:`~pixelwise.planner.rules.MIN_SAMPLES` samples) into the budget is taken, so
resolution comes before width. The epochs then fill the budget, so that the run ends on
time with its learning-rate schedule completed. :func:`plan_yaml` writes the plan as the
YAML that ``pixelwise train --config`` takes, each derived value under a comment that
names the fact and the rule behind it.
"""

from __future__ import annotations

import logging
import math
import textwrap
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import yaml

from pixelwise.config import DataSection, ModelSection, RunConfig, TrainSection
from pixelwise.data.registry import load_split
from pixelwise.engine.speed import resolve_speed
from pixelwise.engine.steptime import prediction_seconds, random_batches, training_speed
from pixelwise.models import build_model
from pixelwise.models.summary import summary
from pixelwise.planner import rules
from pixelwise.planner.fingerprint import Fingerprint, fingerprint
from pixelwise.planner.rules import Decision

logger = logging.getLogger("pixelwise")

BASE_WIDTHS = (32, 16)
"""U-Net base widths tried, widest first."""
ENGINE_FACTOR = 0.9
"""``pixelwise train``'s speed as a share of the timed step's (measured 0.92–1.09×)."""
STARTUP_SECONDS = 20.0
"""Starting a run: imports, building, the first compiled kernels."""
BUDGET_SHARE = 0.95
"""Share of the budget the planned epochs fill; the rest absorbs the estimates' error."""


@dataclass
class Candidate:
    """One timed candidate: where it trains, how fast, and how many epochs fit."""

    scale: float
    crop: tuple[int, int]
    batch_size: int
    base_width: int
    images_per_second: float
    validation_seconds: float
    repeats: int
    epoch_seconds: float
    epochs: int


@dataclass
class Plan:
    """The planned run, the decisions behind it, the facts they read and the timings."""

    config: RunConfig
    decisions: list[Decision]
    fingerprint: Fingerprint
    minutes: float
    candidates: list[Candidate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "minutes": self.minutes,
            "candidates": [asdict(c) for c in self.candidates],
            "decisions": [{"key": d.key, "value": d.value, "reason": d.reason}
                          for d in self.decisions],
        }  # fmt: skip


def _unet(base_width: int, depth: int, num_classes: int, channels: int) -> torch.nn.Module:
    return build_model("unet", num_classes, in_channels=channels, base_width=base_width,
                       depth=depth)  # fmt: skip


def _depth(fp: Fingerprint, scale: float) -> Decision:
    """Depth 4 unless the median class's objects outgrow its receptive field."""
    field_px = summary(_unet(16, 4, 2, fp.channels).eval(), (512, 512)).receptive_field[0]
    diameters = sorted(2 * math.sqrt(c.object_pixels / math.pi) * scale for c in fp.present)
    median = diameters[(len(diameters) - 1) // 2]  # the lower median
    depth = 5 if median > field_px else 4
    reason = (
        f"the median class's objects span {median:.0f} px at the working scale; a "
        f"depth-4 U-Net sees {field_px} px" + (": one level deeper" if depth == 5 else "")
    )
    return Decision("model.options.depth", depth, reason)


def _time_candidate(
    fp: Fingerprint, scale: float, base_width: int, depth: int, train: TrainSection,
    counts: tuple[int, int], overhead: float, budget: float,
) -> Candidate:  # fmt: skip
    """Time one candidate and fit its epochs into ``budget`` seconds less ``overhead``."""
    crop = rules.crop_for(fp, scale)
    batch = rules.batch_for(crop)
    classes = max(2, len(fp.classes))
    model = _unet(base_width, depth, classes, fp.channels)
    batches = random_batches(2, batch, fp.channels, crop, classes)
    speed = training_speed(model, train, batches, classes, 255) * ENGINE_FACTOR
    forward = prediction_seconds(model, train, fp.channels, rules.scaled(fp.size_median, scale))
    n_train, n_val = counts
    one_pass = n_train / speed
    validation = n_val * forward
    repeats = rules.repeats_for(one_pass, validation)
    epoch = repeats * one_pass + validation
    epochs = max(1, math.floor((budget - overhead) / epoch))
    return Candidate(scale, crop, batch, base_width, speed, validation, repeats, epoch, epochs)


def _search(
    fp: Fingerprint, train: TrainSection, counts: tuple[int, int], overhead: float,
    budget: float, progress: bool,
) -> tuple[Candidate, list[Candidate]]:  # fmt: skip
    """The first candidate (finest scale, then widest network) that fits the minimum
    epochs, or the last one tried; and every candidate timed."""
    timed = []
    for scale in rules.candidate_scales(fp):
        depth = _depth(fp, scale).value
        for base_width in BASE_WIDTHS:
            candidate = _time_candidate(fp, scale, base_width, depth, train, counts,
                                        overhead, budget)  # fmt: skip
            timed.append(candidate)
            if progress:
                logger.info(
                    "timed scale %g, base width %d: %.1f training images/s, %d epochs",
                    scale, base_width, candidate.images_per_second, candidate.epochs,
                )  # fmt: skip
            if rules.trains_enough(candidate.epochs, counts[0] * candidate.repeats):
                return candidate, timed
    return timed[-1], timed


def _overhead(fp: Fingerprint, counts: tuple[int, int], forward: float) -> float:
    """Seconds of a run outside its epochs: start-up, reading every pair twice (the check
    and the cache), and the final evaluation."""
    n_train, n_val = counts
    reading = fp.read_seconds * (2 * (n_train + n_val) + n_val)
    return STARTUP_SECONDS + reading + n_val * forward


def make_plan(
    data: DataSection, minutes: float, out: str = "runs/auto", seed: int = 0,
    progress: bool = True, planning_counts: bool = False,
) -> Plan:  # fmt: skip
    """Fingerprint ``data``'s training split and plan a run of ``minutes`` into ``out``.

    With ``planning_counts`` (``train --auto``), the minutes are the user's from now: the
    time the planning itself takes comes out of the run's budget.
    """
    started = time.perf_counter()
    train_split = load_split(data, data.train_split, check=False)
    val_split = load_split(data, data.val_split, check=False)
    fp = fingerprint(train_split, data.name, data.train_split, seed=seed, progress=progress)
    counts = (len(train_split), len(val_split))
    base = RunConfig(model=ModelSection("unet"), data=data, seed=seed, out=out)
    resolved, choices = resolve_speed(base)
    budget = minutes * 60 * BUDGET_SHARE
    first = rules.scaled(fp.size_median, 1.0)
    forward = prediction_seconds(_unet(16, 4, 2, fp.channels), resolved.train, fp.channels, first)
    overhead = _overhead(fp, counts, forward)
    chosen, timed = _search(fp, resolved.train, counts, overhead, budget, progress)
    planning = time.perf_counter() - started if planning_counts else 0.0
    if planning:
        chosen = _refit(chosen, budget - planning, overhead)
    remaining = round(minutes - planning / 60, 2)  # what the planning left of the budget
    decisions = _decisions(fp, chosen, timed, overhead, remaining, choices)
    config = _config(base, decisions)
    return Plan(config, decisions, fp, minutes, timed)


def _refit(chosen: Candidate, budget: float, overhead: float) -> Candidate:
    """``chosen`` with its epochs fitted to a ``budget`` that planning has shortened."""
    epochs = max(1, math.floor((budget - overhead) / chosen.epoch_seconds))
    return replace(chosen, epochs=epochs)


def _decisions(
    fp: Fingerprint, chosen: Candidate, timed: list[Candidate], overhead: float,
    minutes: float, choices: dict,
) -> list[Decision]:  # fmt: skip
    floor, thinnest = rules.width_floor(fp)
    tried = "; ".join(f"scale {c.scale:g}, width {c.base_width}: {c.epochs} epochs"
                      for c in timed)  # fmt: skip
    scale_reason = (
        f"the finest scale whose plan fits {rules.MIN_EPOCHS} epochs (or "
        f"{rules.MIN_SAMPLES:,} samples) in {minutes:g} min "
        f"(timed here: {tried}); never below {floor:.2f}, where the thinnest class "
        f"({thinnest}) would be under {rules.MIN_WIDTH:g} px wide"
    )
    steps = chosen.repeats * math.ceil(fp.images / chosen.batch_size) * chosen.epochs
    return [
        Decision("data.scale", chosen.scale, scale_reason),
        Decision("data.crop", list(chosen.crop),
                 f"the median image {fp.size_median} at scale {chosen.scale:g}, each side at "
                 f"most {rules.MAX_CROP_SIDE}, a multiple of {rules.SIDE_MULTIPLE}"),
        Decision("data.batch_size", chosen.batch_size,
                 f"about {rules.BATCH_PIXELS:,} crop pixels a batch"),
        Decision("data.train_repeats", chosen.repeats,
                 f"{fp.images} training images: validation ({chosen.validation_seconds:.1f} s "
                 f"an epoch) takes at most {rules.VALIDATION_SHARE:.0%} of an epoch"),
        rules.augmentation(fp, chosen.crop),
        rules.normalization(fp),
        Decision("model.options.base_width", chosen.base_width,
                 "the widest U-Net (of 32, 16) that fits the epochs at this scale"),
        _depth(fp, chosen.scale),
        Decision("train.epochs", chosen.epochs,
                 f"fills {BUDGET_SHARE:.0%} of {minutes:g} min: {chosen.epoch_seconds:.1f} s an "
                 f"epoch ({chosen.images_per_second:.1f} training images/s timed here, "
                 f"{steps:,} steps) after {overhead:.0f} s of start-up, reading and the final "
                 "evaluation; the cosine schedule ends with the last epoch"),
        Decision("train.minutes", minutes,
                 "the budget, as a guard: if this machine is slower than when planned, the run "
                 "stops at the epoch boundary nearest to it, its schedule annealed"),
        Decision("train.lr", rules.learning_rate(chosen.batch_size),
                 f"AdamW at 0.001 x sqrt(batch {chosen.batch_size})"),
        *rules.loss_decisions(fp),
        *(Decision(f"train.{key}", "auto", f"{choice.value} on this machine: {choice.reason}")
          for key, choice in choices.items()),
    ]  # fmt: skip


def _config(base: RunConfig, decisions: list[Decision]) -> RunConfig:
    raw = base.to_dict()
    for decision in decisions:
        *parents, leaf = decision.key.split(".")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = decision.value
    return RunConfig.from_dict(raw, "plan")


def _flow(value: Any) -> str:
    """``value`` as one line of YAML."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def plan_yaml(plan: Plan) -> str:
    """The plan as a run configuration in YAML, every decided value under its reason."""
    reasons = {d.key: d.reason for d in plan.decisions}
    fp = plan.fingerprint
    lines = [
        f"# pixelwise plan: {fp.dataset} {fp.split}, {plan.minutes:g} minutes on this machine.",
        f"# {fp.images} training images ({fp.sampled} read), median size {fp.size_median}, "
        f"{fp.channels} channel(s); fingerprint.json holds every fact named below.",
        "# Train it with: pixelwise train --config THIS_FILE",
    ]
    for section, values in plan.config.to_dict().items():
        if not isinstance(values, dict):
            lines += _entry(section, values, reasons, "")
            continue
        lines.append(f"{section}:")
        for key, value in values.items():
            dotted = f"{section}.{key}"
            if isinstance(value, dict) and any(k.startswith(f"{dotted}.") for k in reasons):
                lines.append(f"  {key}:")
                for inner, inner_value in value.items():
                    lines += _entry(inner, inner_value, reasons, f"{dotted}.", "    ")
            else:
                lines += _entry(key, value, reasons, f"{section}.", "  ")
    return "\n".join(lines) + "\n"


def _entry(key: str, value: Any, reasons: dict[str, str], prefix: str,
           indent: str = "") -> list[str]:  # fmt: skip
    """``key: value`` on one line, under the wrapped comment of its reason if it has one."""
    reason = reasons.get(f"{prefix}{key}", "")
    comment = textwrap.wrap(
        reason, 92 - len(indent), initial_indent=f"{indent}# ", subsequent_indent=f"{indent}#   "
    )
    return [*comment, f"{indent}{key}: {_flow(value)}"]


def with_out(plan: Plan, out: str) -> Plan:
    """``plan`` training into ``out``."""
    return replace(plan, config=replace(plan.config, out=out))

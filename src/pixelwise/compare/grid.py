"""A comparison grid: a base run, axes of overrides, classical methods, seeds and a budget.

A grid file (YAML) reads::

    name: upsampling-isbi2012          # optional; default: the file's stem
    description: ...                   # optional, shown in the report
    base: ../isbi2012-cpu.yaml         # a run config: inline, or a path (relative to this file)
    overrides: {train.lr: 0.002}       # optional dotted keys applied to the base
    axes:
      model.options.upsample: [nearest, bilinear]       # a key and its values
      loss:                                             # or named variants, each a
        ce: {train.loss: ce}                            # mapping of dotted keys
        weighted: {train.loss: ce, train.class_weights: inverse}
    exclude: [{model.options.upsample: nearest, loss: ce}]
    classical: [{name: otsu}, {name: kmeans, params: {k: 4}}]
    seeds: [0]
    split: val                         # the split every run is scored on
    baseline: {model.options.upsample: bilinear, loss: ce}   # or a configuration's name
    budget: {epochs: 10}               # and/or {minutes: 3}
    scoring: {boundary_tolerance: 2, latency_size: [512, 512], bootstrap: 1000}

Every combination of axis values (less the excluded ones) is a *configuration*; each
configuration is trained once per seed. Each classical method is one more configuration,
fitted once. A run's folder name is made from its settings, e.g.
``upsample=bilinear,loss=ce,seed=0``; a configuration's name is the same without the seed.

A run's configuration is the base, then ``overrides``, then the budget (``train.epochs``,
``train.minutes``), then the command-line flags, then its own axis values and seed.
A flag may not set a key that an axis varies. Classical runs use the data section at
full resolution (``data.scale: 1``): the methods work on full-size images.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelwise.classical.training import configured_method
from pixelwise.config import ModelSection, RunConfig, TrainSection, load_config, merge, read_yaml
from pixelwise.errors import PixelwiseError, excerpt
from pixelwise.options import Integer, ListOf, Mapping, Number, Optional, checked

GRID_KEYS = (
    "name",
    "description",
    "base",
    "overrides",
    "axes",
    "exclude",
    "classical",
    "seeds",
    "split",
    "baseline",
    "budget",
    "scoring",
)
NETWORK = "network"
CLASSICAL = "classical"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")
MAX_NAME = 200
RUN_SEED = "seed"
"""The part of a network run's name that holds its seed."""


@dataclass(frozen=True)
class Budget:
    """How long each network trains: ``epochs`` and/or ``minutes`` of training wall time.

    ``minutes`` ends training at the epoch boundary nearest to it
    (:mod:`pixelwise.engine.budget`); ``epochs`` stays the maximum and the length of
    the learning-rate schedule.
    """

    epochs: int | None = None
    minutes: float | None = None

    def overrides(self) -> dict[str, Any]:
        """Dotted-key overrides of the run config; unset parts are left to the base."""
        return {"train.epochs": self.epochs, "train.minutes": self.minutes}

    def describe(self) -> str:
        parts = [
            f"{self.epochs} epochs" if self.epochs else "",
            f"{self.minutes:g} min" if self.minutes else "",
        ]
        return " or ".join(part for part in parts if part) or "the base's epochs"


@dataclass(frozen=True)
class Scoring:
    """How every run is scored.

    Args:
        boundary_tolerance: boundary F1 matching distance, in pixels.
        latency_size: ``(H, W)`` of the image whose prediction is timed and at which
            MACs are counted; None: the size of the split's first image.
        latency_repeats: timed predictions (after one warm-up); the median is reported.
        latency_threads: torch threads while timing: 1 by default, which a shared
            machine disturbs least.
        examples: images shown side by side for every configuration.
        worst: images shown per run where it scores its lowest per-image mIoU.
        bootstrap: resamples of the images for the confidence intervals.
        confidence: level of the intervals, e.g. 0.95.
        bootstrap_seed: seed of the resampling.
    """

    boundary_tolerance: float = 2.0
    latency_size: tuple[int, int] | None = None
    latency_repeats: int = 10
    latency_threads: int = 1
    examples: int = 3
    worst: int = 2
    bootstrap: int = 1000
    confidence: float = 0.95
    bootstrap_seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["latency_size"] = list(self.latency_size) if self.latency_size else None
        return document


SCORING_KINDS = {
    "boundary_tolerance": Number(minimum=0),
    "latency_size": Optional(ListOf(Integer(minimum=16), length=2)),
    "latency_repeats": Integer(minimum=1),
    "latency_threads": Integer(minimum=1),
    "examples": Integer(minimum=0, maximum=20),
    "worst": Integer(minimum=0, maximum=20),
    "bootstrap": Integer(minimum=100),
    "confidence": Number(minimum=0.5, maximum=0.999),
    "bootstrap_seed": Integer(minimum=0),
}


@dataclass(frozen=True)
class Axis:
    """One axis of the grid: ``key`` (a dotted config key, or a label for named variants),
    and per value its ``label`` (as in run names) and the dotted ``overrides`` it sets."""

    key: str
    short: str
    labels: tuple[str, ...]
    overrides: tuple[dict[str, Any], ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class PlannedRun:
    """One run of the grid: its folder ``name``, its ``configuration`` (the name without
    the seed), the axis ``settings`` (axis key -> value label), and its complete config."""

    name: str
    configuration: str
    settings: dict[str, str]
    seed: int
    kind: str
    config: RunConfig


@dataclass(frozen=True)
class Grid:
    """A checked grid file; :meth:`runs` expands it into run configurations."""

    name: str
    description: str
    source: str
    base: RunConfig
    axes: tuple[Axis, ...]
    combinations: tuple[tuple[int, ...], ...]
    classical: tuple[dict[str, Any], ...]
    seeds: tuple[int, ...]
    split: str
    baseline: str
    budget: Budget
    scoring: Scoring
    raw: dict[str, Any] = field(repr=False)
    """The grid file's contents, with ``base`` as read (a path replaced by its config)."""

    def runs(self, root: Path) -> list[PlannedRun]:
        """Every run, networks first (configurations in axis order, then seeds), each with
        ``out`` = ``root/<name>``."""
        runs = [
            self._network_run(combination, seed, root)
            for combination in self.combinations
            for seed in self.seeds
        ]
        runs += [self._classical_run(entry, root) for entry in self.classical]
        _check_unique(runs, self.source)
        return runs

    def configurations(self) -> list[str]:
        """Configuration names, in the order of :meth:`runs`."""
        names = [_join(self._settings(combination)) for combination in self.combinations]
        return names + [_join(_classical_settings(entry)) for entry in self.classical]

    def _settings(self, combination: tuple[int, ...]) -> dict[str, str]:
        return {axis.short: axis.labels[i] for axis, i in zip(self.axes, combination, strict=True)}

    def _network_run(self, combination: tuple[int, ...], seed: int, root: Path) -> PlannedRun:
        settings = self._settings(combination)
        configuration = _join(settings)
        name = _join({**settings, RUN_SEED: str(seed)})
        config = self.base
        for axis, i in zip(self.axes, combination, strict=True):
            where = f"{self.source}: axes.{axis.key}={axis.labels[i]}"
            config = merge(config, axis.overrides[i], where, skip_none=False)
        config = merge(config, {"seed": seed, "out": str(root / name)}, self.source)
        return PlannedRun(name, configuration, settings, seed, NETWORK, config)

    def _classical_run(self, entry: dict[str, Any], root: Path) -> PlannedRun:
        settings = _classical_settings(entry)
        name = _join(settings)
        where = f"{self.source}: classical {name}"
        overrides = {
            "method.name": entry["name"],
            "method.params": entry.get("params") or {},
            "data.scale": 1.0,
            "seed": self.seeds[0],
            "out": str(root / name),
        }
        config = merge(self.base, overrides, where)
        try:
            params = configured_method(config).params
        except PixelwiseError as err:
            raise PixelwiseError(f"{where}: {err}") from None
        # a classical run uses no model or training settings: the budget does not touch it
        config = dataclasses.replace(
            config,
            model=ModelSection(),
            train=TrainSection(),
            method=dataclasses.replace(config.method, params=params),
        )
        return PlannedRun(name, name, settings, self.seeds[0], CLASSICAL, config)


def _label(value: Any) -> str:
    """A value as it appears in a run name: short, and safe in a folder name."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, dict):
        text = "_".join(f"{k}-{_label(v)}" for k, v in value.items())
    elif isinstance(value, list | tuple):
        text = "-".join(_label(item) for item in value)
    elif value is None:
        text = "null"
    else:
        text = str(value)
    return _clean(text)


def _clean(text: str) -> str:
    """``text`` with every run of characters unsafe in a folder name made one ``-``, and
    no ``-`` at either end but a leading minus sign (``-4`` stays ``-4``)."""
    cleaned = _UNSAFE.sub("-", text)
    sign = "-" if re.match(r"-[0-9.]", text) else ""
    return sign + cleaned.removeprefix(sign).strip("-") or "-"


def _join(settings: dict[str, str]) -> str:
    """A run's folder name: ``key=value`` pairs, each part cleaned (:func:`_clean`), so
    that the name is one path component."""
    return ",".join(f"{_clean(key)}={value}" for key, value in settings.items()) or "base"


def _classical_settings(entry: dict[str, Any]) -> dict[str, str]:
    params = entry.get("params") or {}
    return {"method": entry["name"], **{str(k): _label(v) for k, v in params.items()}}


def _check_unique(runs: list[PlannedRun], source: str) -> None:
    seen: dict[str, PlannedRun] = {}
    for run in runs:
        if run.name in (".", "..") or "/" in run.name or "\\" in run.name or "\0" in run.name:
            raise PixelwiseError(f"{source}: {run.name!r} is not a valid run folder name")
        if len(run.name) > MAX_NAME:
            raise PixelwiseError(
                f"{source}: the run name {run.name[:60]}... is longer than {MAX_NAME} "
                "characters; use named variants with short names for long values"
            )
        if run.name in seen:
            raise PixelwiseError(
                f"{source}: two runs would share the folder name {run.name!r}; make the "
                "axis values (or the classical methods' parameters) distinct"
            )
        seen[run.name] = run


def _read(path: Path) -> dict[str, Any]:
    raw = read_yaml(path, "grid file")
    if not isinstance(raw, dict):
        raise PixelwiseError(f"{path}: a grid file must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(GRID_KEYS), key=str)
    if unknown:
        raise PixelwiseError(
            f"{path}: unknown key {unknown[0]!r}; valid keys: {', '.join(GRID_KEYS)}"
        )
    return raw


def _base(raw: dict[str, Any], path: Path) -> RunConfig:
    base = raw.get("base")
    if isinstance(base, str):
        return load_config(path.parent / base)
    if base is None or isinstance(base, dict):
        return RunConfig.from_dict(base or {}, f"{path}: base")
    raise PixelwiseError(
        f"{path}: base must be a run config mapping or a path, got {excerpt(base)}"
    )


def _dotted(raw: Any, where: str) -> dict[str, Any]:
    """A mapping of dotted keys to values (the values may be anything YAML gives)."""
    return checked(Mapping(), raw, where)


def _axis(key: Any, values: Any, source: str) -> Axis:
    where = f"{source}: axes.{key}"
    if not isinstance(key, str) or not key:
        raise PixelwiseError(
            f"{source}: an axis key must be a non-empty string, got {excerpt(key)}"
        )
    if key == RUN_SEED:
        raise PixelwiseError(f"{where}: the run seed is not an axis; give seeds: [...] instead")
    if isinstance(values, list):
        if not values:
            raise PixelwiseError(f"{where} has no values")
        labels = tuple(_label(value) for value in values)
        overrides = tuple({key: value} for value in values)
        items = tuple(values)
    elif isinstance(values, dict) and values:
        labels = tuple(_label(name) for name in values)
        overrides = tuple(_dotted(value, f"{where}.{name}") for name, value in values.items())
        items = tuple(values)
    else:
        raise PixelwiseError(
            f"{where} must be a list of values, or a mapping of variant names to mappings "
            f"of dotted keys; got {excerpt(values)}"
        )
    if len(set(labels)) != len(labels):
        raise PixelwiseError(f"{where}: two values have the same name in run names: {labels}")
    return Axis(key, key.rsplit(".", 1)[-1], labels, overrides, items)


def _axes(raw: Any, source: str) -> tuple[Axis, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise PixelwiseError(
            f"{source}: axes must be a mapping of keys to values, got {excerpt(raw)}"
        )
    axes = [_axis(key, values, source) for key, values in raw.items()]
    shorts = [axis.short for axis in axes]
    # two axes ending in the same key name, or in the run's own "seed", keep their full
    # dotted keys in run names
    return tuple(
        dataclasses.replace(axis, short=axis.key)
        if shorts.count(axis.short) > 1 or axis.short == RUN_SEED
        else axis
        for axis in axes
    )


def _value_index(axis: Axis, value: Any, where: str) -> int:
    for i, (item, label) in enumerate(zip(axis.values, axis.labels, strict=True)):
        if value in (item, label):
            return i
    raise PixelwiseError(
        f"{where}: {value!r} is not a value of axis {axis.key}; its values: "
        f"{', '.join(axis.labels)}"
    )


def _selection(raw: Any, axes: tuple[Axis, ...], where: str) -> dict[int, int]:
    """``{axis key: value}`` -> ``{axis position: value position}``, every part checked."""
    selection = _dotted(raw, where)
    keys = {axis.key: i for i, axis in enumerate(axes)}
    chosen = {}
    for key, value in selection.items():
        if key not in keys:
            raise PixelwiseError(
                f"{where}: {key!r} is not an axis; the axes: {', '.join(keys) or 'none'}"
            )
        chosen[keys[key]] = _value_index(axes[keys[key]], value, where)
    return chosen


def _combinations(axes: tuple[Axis, ...], exclude: Any, source: str) -> tuple[tuple[int, ...], ...]:
    if exclude is None:
        exclude = []
    if not isinstance(exclude, list):
        raise PixelwiseError(
            f"{source}: exclude must be a list of mappings, got {excerpt(exclude)}"
        )
    rules = [_selection(rule, axes, f"{source}: exclude[{i}]") for i, rule in enumerate(exclude)]
    every = itertools.product(*(range(len(axis.labels)) for axis in axes)) if axes else [()]
    kept = tuple(
        combination
        for combination in every
        if not any(all(combination[a] == v for a, v in rule.items()) for rule in rules)
    )
    return kept


def _classical(raw: Any, source: str) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    entries = raw if isinstance(raw, list) else None
    if entries is None or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and set(entry) <= {"name", "params"}
        and isinstance(entry.get("params") or {}, dict)
        for entry in entries
    ):
        raise PixelwiseError(
            f"{source}: classical must be a list of {{name: METHOD, params: {{...}}}} "
            f"entries, got {excerpt(raw)}"
        )
    return tuple(entries)


def _seeds(raw: Any, source: str) -> tuple[int, ...]:
    seeds = checked(ListOf(Integer(minimum=0)), [0] if raw is None else raw, f"{source}: seeds")
    if not seeds or len(set(seeds)) != len(seeds):
        raise PixelwiseError(f"{source}: seeds must be a non-empty list of distinct integers")
    return tuple(seeds)


def _budget(raw: Any, source: str) -> Budget:
    where = f"{source}: budget"
    budget = _dotted(raw, where)
    kinds = {"epochs": Integer(minimum=1), "minutes": Number(minimum=0, exclusive_minimum=True)}
    unknown = sorted(set(budget) - set(kinds))
    if unknown:
        raise PixelwiseError(f"{where}: unknown key {unknown[0]!r}; valid keys: epochs, minutes")
    return Budget(**{k: checked(kinds[k], v, f"{where}.{k}") for k, v in budget.items()})


def _scoring(raw: Any, source: str) -> Scoring:
    where = f"{source}: scoring"
    scoring = _dotted(raw, where)
    unknown = sorted(set(scoring) - set(SCORING_KINDS))
    if unknown:
        raise PixelwiseError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(SCORING_KINDS)}"
        )
    values = {k: checked(SCORING_KINDS[k], v, f"{where}.{k}") for k, v in scoring.items()}
    if values.get("latency_size"):
        values["latency_size"] = tuple(values["latency_size"])
    return Scoring(**values)


def _check_flags(flags: dict[str, Any], axes: tuple[Axis, ...], source: str) -> None:
    """A flag may not set what an axis varies (the axis would silently win)."""
    varied = {key for axis in axes for overrides in axis.overrides for key in overrides}
    for flag_key in flags:
        for key in varied:
            if flag_key == key or flag_key.startswith(key + ".") or key.startswith(flag_key + "."):
                raise PixelwiseError(
                    f"the flag for {flag_key} sets what the grid's axes vary ({key} in "
                    f"{source}); remove the flag or the axis"
                )


def check_baseline(raw: Any, grid: Grid, source: str = "--baseline") -> str:
    """The configuration that ``raw`` names: its name, or ``{axis key: value}`` that
    picks exactly one; None picks the first configuration."""
    names = grid.configurations()
    if raw is None:
        return names[0]
    if isinstance(raw, str):
        if raw not in names:
            raise PixelwiseError(
                f"{source}: {raw!r} is not a configuration; the configurations: {', '.join(names)}"
            )
        return raw
    chosen = _selection(raw, grid.axes, source)
    matches = [
        names[i]
        for i, combination in enumerate(grid.combinations)
        if all(combination[a] == v for a, v in chosen.items())
    ]
    if len(matches) != 1:
        found = ", ".join(matches) if matches else "none (it is excluded)"
        raise PixelwiseError(f"{source} must pick exactly one configuration; it matches {found}")
    return matches[0]


def check_networks(runs: list[PlannedRun], source: str) -> None:
    """Check each network's settings that need no data, and build each distinct model once
    (for two classes), so that a bad model option names itself before any training."""
    from pixelwise.engine.fit import check_settings  # Lightning: imported only here
    from pixelwise.models import build_model

    built: set[str] = set()
    for run in runs:
        if run.kind != NETWORK:
            continue
        model = run.config.model
        try:
            check_settings(run.config)
            key = repr((model.name, model.encoder, sorted(model.options.items())))
            if key not in built:
                build_model(model.name, num_classes=2, encoder=model.encoder, **model.options)
                built.add(key)
        except PixelwiseError as err:
            raise PixelwiseError(f"{source}: run {run.name}: {err}") from None


def load_grid(path: str | Path, flags: dict[str, Any] | None = None) -> Grid:
    """Read and check a grid file; ``flags`` are dotted-key overrides of every run.

    Every part is checked here, and every run's configuration is built (so a bad axis
    value or classical parameter names itself before anything is trained).
    """
    path = Path(path)
    raw = _read(path)
    source = str(path)
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    axes = _axes(raw.get("axes"), source)
    _check_flags(flags, axes, source)
    budget = _budget(raw.get("budget"), source)
    given = _base(raw, path)
    base = merge(
        given, _dotted(raw.get("overrides"), f"{source}: overrides"), source, skip_none=False
    )
    base = merge(merge(base, budget.overrides(), f"{source}: budget"), flags)
    grid = Grid(
        name=str(raw.get("name") or path.stem),
        description=str(raw.get("description") or ""),
        source=source,
        base=base,
        axes=axes,
        combinations=_combinations(axes, raw.get("exclude"), source),
        classical=_classical(raw.get("classical"), source),
        seeds=_seeds(raw.get("seeds"), source),
        split=str(raw.get("split") or base.data.val_split),
        baseline="",
        budget=budget,
        scoring=_scoring(raw.get("scoring"), source),
        raw={**raw, "base": given.to_dict()},  # the base read in: the record stands alone
    )
    if not grid.combinations and not grid.classical:
        raise PixelwiseError(
            f"{source}: every combination is excluded and there is no classical method"
        )
    check_networks(grid.runs(Path(".")), source)  # builds and checks every run's configuration
    baseline = check_baseline(raw.get("baseline"), grid, f"{source}: baseline")
    return dataclasses.replace(grid, baseline=baseline)

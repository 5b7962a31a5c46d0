"""Comparisons of many configurations on the same data, in one report.

A grid file (:mod:`pixelwise.compare.grid`) names a base run, axes of overrides,
classical methods, seeds and a budget; its runs are trained and scored
(:mod:`pixelwise.compare.runner`, :mod:`pixelwise.compare.scoring`), summarized with
bootstrap intervals over images (:mod:`pixelwise.compare.statistics`,
:mod:`pixelwise.compare.results`) and shown in one self-contained HTML page
(:mod:`pixelwise.compare.report`). :mod:`pixelwise.compare.workflow` ties them together.
"""

from pixelwise.compare.grid import Grid, PlannedRun, Scoring, load_grid
from pixelwise.compare.runner import Executor, LocalExecutor, Task
from pixelwise.compare.workflow import Comparison, Plan, plan_comparison, run_comparison

__all__ = [
    "Comparison",
    "Executor",
    "Grid",
    "LocalExecutor",
    "Plan",
    "PlannedRun",
    "Scoring",
    "Task",
    "load_grid",
    "plan_comparison",
    "run_comparison",
]

"""Sweeps: when does BatchNormalization help? A grid of run parameters, one
comparison per cell, judged with multiplicity control across the cells.

* A **grid** maps run parameters (:data:`GRID_NAMES`) to the values to try;
  its **cells** are every combination, in the grid's order.
* A cell's verdict is the paired bn - plain comparison over its seeds, as in
  ``bn-comparison``, with two differences for many cells at once:

  - a **diverged seed is a loss, not a gap**: dropping it would favour the
    unstable variant exactly where BatchNorm matters (high learning rates), so
    its metric counts as the worst value seen in the cell (over both variants
    and all seeds), and each variant's divergence rate is reported;
  - the p-value of the paired t test is **adjusted across the cells**
    (:mod:`bnpipe.stats.multiplicity`: Holm by default, or Benjamini-Hochberg); a
    cell's winner is bn or plain only when its adjusted p-value is below
    ``alpha``, else "tie".

The package: :mod:`~bnpipe.sweep.grid` (grid, cells, sweep files),
:mod:`~bnpipe.sweep.verdicts` (a cell's judgement), :mod:`~bnpipe.sweep.runs`
(the MLflow side of a sweep) and :mod:`~bnpipe.sweep.report` (its report).
Nothing here imports Prefect, MLflow or TensorFlow.
"""

from __future__ import annotations

from bnpipe.sweep.grid import (
    GRID_NAMES,
    Cell,
    SweepError,
    SweepPlan,
    cells,
    check_grid,
    check_heatmap,
    load_sweep_file,
    parse_grid,
)
from bnpipe.sweep.verdicts import (
    CellVerdict,
    adjust_verdicts,
    best_cell,
    cell_description,
    judge_cell,
    judge_record,
    leader_score,
    per_seed_values,
    summary_line,
    worst_case_values,
)

__all__ = [
    "Cell",
    "CellVerdict",
    "GRID_NAMES",
    "SweepError",
    "SweepPlan",
    "adjust_verdicts",
    "best_cell",
    "cell_description",
    "cells",
    "check_grid",
    "check_heatmap",
    "judge_cell",
    "judge_record",
    "leader_score",
    "load_sweep_file",
    "parse_grid",
    "per_seed_values",
    "summary_line",
    "worst_case_values",
]

"""The profile of a whole frame: the task its target implies and every column's role."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from bnpipe.features.cells import blank_cells
from bnpipe.profiling.columns import column_role, counts_of, is_bool
from bnpipe.profiling.roles import ColumnRole, Profile
from bnpipe.profiling.words import quoted

RARE_SHARE = 0.01  # categories under 1% of the rows (and at least 2 rows) are rare


class ColumnError(ValueError):
    """A column named on the command line that the data does not have."""


def profile_frame(
    df: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    exclude: Iterable[str] = (),
) -> Profile:
    """The role of every column of ``df``; ``task`` None: inferred from the target.

    Raises :class:`ColumnError` when the target or an ``exclude`` name is not a
    column (the message lists the columns), or the target is excluded."""
    columns = [str(c) for c in df.columns]
    exclude = list(dict.fromkeys(exclude))
    if target not in columns:
        raise ColumnError(f"target {target!r} is not a column; columns: {', '.join(columns)}")
    unknown = [c for c in exclude if c not in columns]
    if unknown:
        raise ColumnError(
            f"--exclude names {quoted(unknown)}, not a column; columns: {', '.join(columns)}"
        )
    if target in exclude:
        raise ColumnError(f"--exclude names the target {target!r}; it is never a feature anyway")
    rows = len(df)
    if task:
        task_reason = "given with --task"
    else:
        task, task_reason = infer_task_reason(df[target])
    threshold = rare_threshold(rows)
    roles: list[ColumnRole] = []
    for name in columns:
        series = df[name]
        if name == target:
            reason = f"{task}: {task_reason}"
            roles.append(ColumnRole(name, "target", reason, blanks=int(blank_cells(series).sum())))
        elif name in exclude:
            roles.append(ColumnRole(name, "excluded", "--exclude", blanks=int(series.isna().sum())))
        else:
            roles.append(column_role(series, name, min_frequency=threshold))
    rare_anywhere = any(c.role == "categorical" and c.rare for c in roles)
    return Profile(
        rows=rows,
        target=target,
        task=task,
        task_reason=task_reason,
        columns=tuple(roles),
        min_frequency=threshold if rare_anywhere else 0,
    )


def rare_threshold(rows: int) -> int:
    """Categories seen fewer times than this are rare: 1% of the rows, at least 2."""
    return max(2, math.ceil(RARE_SHARE * rows))


def infer_task(target: pd.Series) -> str:
    """Text, true/false, or a few whole-number codes is a class label; else a quantity."""
    return infer_task_reason(target)[0]


def infer_task_reason(target: pd.Series) -> tuple[str, str]:
    """(task, why): ``("classification", "text with 3 classes")``."""
    values = target.dropna()
    distinct = int(counts_of(values).size)
    if is_bool(target, values):
        return "classification", "true/false"
    if not pd.api.types.is_numeric_dtype(target):
        return "classification", f"text with {distinct} classes"
    whole = bool((values == values.round()).all())
    if whole and distinct <= 10:
        return "classification", f"whole numbers with {distinct} distinct values: class codes"
    return "regression", f"numbers with {distinct} distinct values"

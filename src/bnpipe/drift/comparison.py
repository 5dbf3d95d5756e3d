"""Today's frame against a reference profile (:func:`compare`): a :class:`DriftReport`.

How a column is compared
------------------------
The distance is the population stability index over the reference's buckets,
``PSI = sum((a - e) * ln(a / e))`` with ``e`` the reference's and ``a`` today's
fraction of rows per bucket; the buckets are the bins (numeric) or categories
(categorical), plus one for nulls, plus for a categorical column one "other"
bucket pooling today's categories unseen in the reference (its reference
fraction is 0). Fractions are floored at ``EPSILON`` (1e-4) so an empty bucket
gives a finite PSI. Rules of thumb: below 0.1 little change, 0.1-0.25 some,
above 0.25 a real shift. The same frame against its own profile has PSI 0.

The relation change of a feature is ``|relation_today - relation_reference|``:
it catches a target that no longer goes with its features (a shuffled or
mis-joined label column) although every marginal is unchanged.

A column is at level ``"block"`` when ``psi > block`` or
``relation_change > relation_block``, at ``"warn"`` when over the warn levels,
else ``"ok"``; a column in the reference but missing today, or today but not in
the reference, is ``"block"`` with a note. The report's level is the worst.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bnpipe.drift.buckets import column_psi
from bnpipe.drift.columns import column_values
from bnpipe.drift.levels import level_of, thresholds, worst
from bnpipe.drift.profiles import check_reference
from bnpipe.drift.relations import relation
from bnpipe.drift.report import ColumnDrift, DriftReport


def compare(
    reference: dict,
    df: pd.DataFrame,
    *,
    warn: float,
    block: float,
    relation_warn: float,
    relation_block: float,
) -> DriftReport:
    """Today's ``df`` (CSV column names) against a reference :func:`profile`.

    Raises ``ValueError`` for a profile of another format version, an empty
    frame, or a threshold that is not a non-negative number.
    """
    check_reference(reference)
    levels = thresholds(
        warn=warn, block=block, relation_warn=relation_warn, relation_block=relation_block
    )
    if len(df) == 0:
        raise ValueError("cannot compare an empty frame (0 rows) with the drift reference")

    rows = len(df)
    ref_columns: Mapping[str, Mapping] = reference["columns"]
    target = reference["target"]
    target_kind = "numeric" if reference["task"] == "regression" else "categorical"
    target_today = column_values(df[target], target_kind) if target in df.columns else None

    out: list[ColumnDrift] = []
    for name, ref in ref_columns.items():
        role, kind = ref.get("role", "feature"), ref["kind"]
        if name not in df.columns:
            out.append(
                ColumnDrift(
                    column=name,
                    kind=kind,
                    role=role,
                    psi=None,
                    relation_ref=ref.get("relation") if role == "feature" else None,
                    relation_today=None,
                    relation_change=None,
                    level="block",
                    note="missing today (the reference profile has it)",
                )
            )
            continue
        values = target_today if role == "target" else column_values(df[name], kind)
        psi, note = column_psi(ref, values, kind, rows)
        rel_ref = rel_today = change = None
        if role == "feature":
            rel_ref = ref.get("relation")
            if target_today is not None:
                rel_today = relation(values, kind, target_today, target_kind)
            if rel_ref is not None and rel_today is not None:
                change = abs(rel_today - float(rel_ref))
        level = worst([level_of(psi, warn, block), level_of(change, relation_warn, relation_block)])
        out.append(
            ColumnDrift(
                column=name,
                kind=kind,
                role=role,
                psi=psi,
                relation_ref=rel_ref,
                relation_today=rel_today,
                relation_change=change,
                level=level,
                note=note,
            )
        )
    for name in df.columns:
        if name in ref_columns:
            continue
        kind = "numeric" if pd.api.types.is_numeric_dtype(df[name]) else "categorical"
        out.append(
            ColumnDrift(
                column=str(name),
                kind=kind,
                role="feature",
                psi=None,
                relation_ref=None,
                relation_today=None,
                relation_change=None,
                level="block",
                note="not in the reference profile (a column today that the champion's data lacked)",
            )
        )
    return DriftReport(
        level=worst([c.level for c in out]),
        columns=tuple(out),
        reference_rows=int(reference["rows"]),
        rows=rows,
        **levels,
    )

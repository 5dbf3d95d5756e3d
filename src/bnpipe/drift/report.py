"""The outcome of a drift comparison: a :class:`ColumnDrift` per column and the
:class:`DriftReport` over them, as ``drift.json``, MLflow metrics and human lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bnpipe.catalog import DRIFT_LEVELS
from bnpipe.drift.profiles import VERSION

# MLflow (mlflow.utils.validation) allows ``[/\w.\- :]`` in metric names (no colon on
# Windows), where ``\w`` is Unicode-aware, so Korean column names stay as they are.
# Slashes and colons are replaced too: a slash makes a name a path that MLflow also
# checks, and a colon is refused on Windows.
_METRIC_BAD = re.compile(r"[^\w.\- ]")
_METRIC_MAX = 250  # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH


@dataclass(frozen=True)
class ColumnDrift:
    """One column of today's frame against the reference profile.

    ``psi`` is ``None`` when the column is missing on one side;
    ``relation_*`` are ``None`` for the target and where undefined (fewer than
    two complete rows, a missing column).
    """

    column: str
    kind: str  # "numeric" | "categorical"
    role: str  # "feature" | "target"
    psi: float | None
    relation_ref: float | None
    relation_today: float | None
    relation_change: float | None
    level: str  # "ok" | "warn" | "block"
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "column": self.column,
            "kind": self.kind,
            "role": self.role,
            "psi": self.psi,
            "relation_ref": self.relation_ref,
            "relation_today": self.relation_today,
            "relation_change": self.relation_change,
            "level": self.level,
            "note": self.note,
        }


@dataclass(frozen=True)
class DriftReport:
    """Today's frame against a reference profile, column by column (see :mod:`bnpipe.drift.comparison`)."""

    level: str  # the worst column level: "ok" | "warn" | "block"
    columns: tuple[ColumnDrift, ...]
    reference_rows: int
    rows: int
    warn: float
    block: float
    relation_warn: float
    relation_block: float

    def column(self, name: str) -> ColumnDrift:
        """The entry of one column; ``KeyError`` when the report has none."""
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def _largest(self, attr: str) -> tuple[float, str] | None:
        values = [(getattr(c, attr), c.column) for c in self.columns]
        values = [(v, name) for v, name in values if v is not None]
        return max(values, key=lambda pair: pair[0]) if values else None

    def to_dict(self) -> dict:
        """JSON-ready (``drift.json``): thresholds, columns, summary and reasons."""
        return {
            "version": VERSION,
            "level": self.level,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "levels": {k: getattr(self, k) for k in DRIFT_LEVELS},
            "summary": self.summary(),
            "reasons": self.reasons(),
            "columns": [c.to_dict() for c in self.columns],
        }

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: ``drift_psi_<column>`` and ``drift_relation_<column>`` (the
        relation change) per column where defined, and ``drift_psi_max`` /
        ``drift_relation_max`` when any is. Column names are made MLflow-legal
        (:func:`metric_name`); two that clash get ``_2``, ``_3``, ... suffixes."""
        out: dict[str, float] = {}

        def put(name: str, value: float) -> None:
            key, n = name, 1
            while key in out:
                n += 1
                suffix = f"_{n}"
                key = name[: _METRIC_MAX - len(suffix)] + suffix
            out[key] = float(value)

        for c in self.columns:
            if c.psi is not None:
                put(metric_name("drift_psi_", c.column), c.psi)
        for c in self.columns:
            if c.relation_change is not None:
                put(metric_name("drift_relation_", c.column), c.relation_change)
        if (psi := self._largest("psi")) is not None:
            out["drift_psi_max"] = psi[0]
        if (rel := self._largest("relation_change")) is not None:
            out["drift_relation_max"] = rel[0]
        return out

    def summary(self) -> str:
        """One line, e.g. ``drift ok: largest PSI 0.03 (rm), largest relation change
        0.02 (lstat)``; at warn or block it first names the columns over the levels."""
        psi, rel = self._largest("psi"), self._largest("relation_change")
        largest = [
            f"largest PSI {psi[0]:.2f} ({psi[1]})" if psi else "no PSI",
            f"largest relation change {rel[0]:.2f} ({rel[1]})" if rel else "no relation change",
        ]
        over = []
        for level in ("block", "warn"):
            names = [c.column for c in self.columns if c.level == level]
            if names:
                over.append(f"over the {level} level: {', '.join(names)}")
        return f"drift {self.level}: " + "; ".join([*over, ", ".join(largest)])

    def reasons(self) -> list[str]:
        """One human line per reason a column is at the block level."""
        out = []
        for c in self.columns:
            if c.level != "block":
                continue
            if c.psi is None:
                out.append(f"column {c.column!r}: {c.note}")
                continue
            if c.psi > self.block:
                out.append(f"column {c.column!r}: PSI {c.psi:.3g} > block level {self.block:g}")
            if c.relation_change is not None and c.relation_change > self.relation_block:
                out.append(
                    f"column {c.column!r}: relation to the target changed by "
                    f"{c.relation_change:.3g} ({c.relation_ref:.3g} -> {c.relation_today:.3g})"
                    f" > block level {self.relation_block:g}"
                )
        return out


def metric_name(prefix: str, column: str) -> str:
    """``prefix + column`` with every character MLflow refuses in a metric name
    (anything but Unicode letters/digits, ``_``, ``-``, ``.``, space) made ``_``,
    cut to MLflow's 250 characters."""
    return (prefix + _METRIC_BAD.sub("_", str(column)))[:_METRIC_MAX]

"""What a validation found: each broken expectation as a :class:`Failure`, the
:class:`ValidationReport` of a run, and :class:`DataValidationError`."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Failure:
    """One expectation that the data did not meet."""

    column: str | None  # None for table-level rules
    rule: str  # the GX expectation type
    detail: str  # human words: "values must be between 0 and 50"
    offending: list  # up to MAX_EXAMPLES offending values (JSON-serializable), may be []
    count: int | None  # number of offending rows, if known

    def line(self) -> str:
        where = f"column '{self.column}'" if self.column is not None else "table"
        text = f"{where}: {self.rule} — {self.detail}"
        if self.count:
            text += f"; {self.count} row{'s' if self.count != 1 else ''}"
            if self.offending:
                text += f", e.g. {self.offending}"
        elif self.offending:
            text += f"; e.g. {self.offending}"
        return text


@dataclass(frozen=True)
class ValidationReport:
    dataset: str
    suite: str
    success: bool
    evaluated: int  # number of expectations evaluated
    failures: tuple[Failure, ...]
    rows: int

    def summary(self) -> str:
        if self.success:
            return (
                f"{self.dataset}: validation passed ({self.evaluated} expectations, "
                f"{self.rows} rows) against suite '{self.suite}'"
            )
        head = (
            f"{self.dataset}: validation failed ({len(self.failures)} of {self.evaluated} "
            f"expectations) against suite '{self.suite}'"
        )
        return "\n".join([head, *(f"  {f.line()}" for f in self.failures)])

    def to_dict(self) -> dict:
        return asdict(self) | {"failures": [asdict(f) for f in self.failures]}


def with_failures(report: ValidationReport, failures: list[Failure]) -> ValidationReport:
    """``report`` with more failures (checks made outside the suite: the catalog's
    ``missing`` policy); each counts as an evaluated rule."""
    if not failures:
        return report
    return dataclasses.replace(
        report,
        success=False,
        evaluated=report.evaluated + len(failures),
        failures=(*report.failures, *failures),
    )


class DataValidationError(ValueError):
    """The data broke its suite; ``str(err)`` is the report's summary."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.summary())
        self.report = report

    def __reduce__(self):  # keep the report when pickled (Prefect ships exceptions)
        return (type(self), (self.report,))

"""The promotion gate: why a challenger that won on today's rows is *held*.

The champion rule (:mod:`bnpipe.registry`) compares challenger and champion on
today's test rows. That is right when today's rows are real, and exactly wrong
when they are not: whatever produced bad rows also trained the challenger that
wins on them. So a promotion is held for a person to look at when

* today's data drifted from the champion's data beyond the catalog's block level
  (:mod:`bnpipe.drift`), or there is no reference to tell (a champion logged
  before data profiles existed, or whose run's artifacts are gone);
* the champion scores far off its own record on today's test rows
  (:func:`bnpipe.registry.off_its_record`).

Two more reasons hold any version, the first one too: no variant better than
the baseline (:mod:`bnpipe.references`), and features that may reproduce the
target (:mod:`bnpipe.leaks`); :func:`bnpipe.registry.hold_reasons` gathers them.

A held run is a success that needs a person: it exits 0 with a warning, its
Prefect flow run is Completed with the state name ``Held``, its parent run is
tagged ``promotion=held: <reason>``, and ``bnpipe promote`` moves the alias by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class DriftCheck:
    """Today's data against the profile of the champion's training data."""

    champion_version: str | None  # None: no champion yet, nothing to compare with
    reference: dict | None  # the champion's data profile; None when it has none
    report: Any = None  # drift.DriftReport once compared

    @property
    def missing(self) -> str | None:
        """Why drift could not be measured although there is a champion."""
        if self.champion_version is None or self.reference is not None:
            return None
        return (
            f"no drift reference: champion v{self.champion_version} has no data profile "
            "on its run (logged before drift checks, or its artifacts are gone)"
        )

    def tag(self) -> str:
        """The parent run's ``drift`` tag."""
        if self.champion_version is None:
            return "none (no champion yet)"
        if self.report is None:
            return "unknown (no reference)"
        return self.report.level

    def hold_reasons(self) -> list[str]:
        if self.missing:
            return [self.missing]
        if self.report is not None and self.report.level == "block":
            return ["drift above the block level: " + "; ".join(self.report.reasons())]
        return []

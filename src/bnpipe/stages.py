"""The records one dataset's comparison passes from stage to stage.

The chain (``bnpipe.flows.compare.compare_dataset``) reads top-down:

    download -> unchanged? -> open run -> validate -> drift -> encode  => Prepared
    train                                                             => Trained
    evaluate (validation and test rows, in the target's units)        => Evaluated
    log (one MLflow child run per variant and seed)                   => Evaluated, with run ids
    judge (seed summary, baseline and linear model, target leaks)     => Judged
    decide (register the leader, apply the champion rule)             => Decision
    report                                                            => Compared

Each record is frozen: a stage makes a new one and never changes what it was
given. A :class:`~bnpipe.comparison.SeedResult` gains its MLflow run id and model
URI when it is logged; that is the one field a stage fills in place.

Nothing here imports Prefect, MLflow or TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: this module is imported by every stage
    import pandas as pd

    from bnpipe.catalog import DatasetSpec
    from bnpipe.comparison import ComparisonSummary, SeedResult
    from bnpipe.features import Encoded
    from bnpipe.gate import DriftCheck
    from bnpipe.ingest import Snapshot
    from bnpipe.jobs import JobResult
    from bnpipe.params import RunConfig
    from bnpipe.registry import Decision
    from bnpipe.report import ReferenceCheck
    from bnpipe.results import ComparisonResult
    from bnpipe.settings import Settings
    from bnpipe.sweep import Cell
    from bnpipe.tracking import ParentRun


@dataclass(frozen=True)
class Origin:
    """The flow run a comparison belongs to (its parent run's tags and name)."""

    flow_run_id: str | None = None
    flow_run_name: str | None = None


@dataclass(frozen=True)
class Checked:
    """A dataset's snapshot once validated (and, when asked, checked for drift)."""

    snap: Snapshot
    frame: pd.DataFrame
    validation_summary: str
    drift: DriftCheck | None


@dataclass(frozen=True)
class SweepCell:
    """A comparison that is one cell of a sweep: its run goes under the sweep run,
    it reuses a complete cell of an earlier sweep, and it logs models for each
    variant's best seed only."""

    cell: Cell
    sweep_run: ParentRun
    checked: Checked  # the sweep downloads and validates each dataset once


@dataclass(frozen=True)
class Request:
    """What one dataset's comparison is asked to do."""

    spec: DatasetSpec
    config: RunConfig  # resolved for spec: every field has its value
    settings: Settings
    origin: Origin = field(default_factory=Origin)
    register: bool = True  # register the leader under the champion rule
    report: bool = True  # plots and comparison.html on the run
    offline: bool = False
    fallback: bool = False
    force: bool = False  # train even when an earlier run had the same key
    cell: SweepCell | None = None  # None: a comparison of its own (bn-comparison)

    @property
    def label(self) -> str:
        """The dataset, or ``<dataset>/<cell slug>`` for a sweep cell (job and run names)."""
        return f"{self.spec.name}/{self.cell.cell.slug}" if self.cell else self.spec.name


@dataclass(frozen=True)
class Prepared:
    """Validated and encoded, its MLflow run open."""

    request: Request
    run: ParentRun  # the parent run, or a sweep's cell run
    key: str  # what makes the result: data, catalog entry, suite, parameters, code
    checked: Checked
    data: Encoded

    @property
    def spec(self) -> DatasetSpec:
        return self.request.spec

    @property
    def config(self) -> RunConfig:
        return self.request.config


@dataclass(frozen=True)
class Trained:
    """Both variants over the seeds, as the Dask jobs returned them."""

    prepared: Prepared
    jobs: tuple[JobResult, ...]  # one per variant, in bnpipe.jobs.VARIANTS order
    models_dir: str  # where the trained models are saved for logging
    span: tuple[float, float] = (0.0, 0.0)  # time.perf_counter() at submit and when both ended


@dataclass(frozen=True)
class Evaluated:
    """Each seed scored on the validation and the test rows, in the target's units."""

    prepared: Prepared
    results: tuple[SeedResult, ...]
    learning_rate: float  # the optimizer's effective learning rate
    trained: tuple[float, float] = (0.0, 0.0)  # Trained.span
    log_seconds: float = 0.0  # the seed runs' logging, once logged


@dataclass(frozen=True)
class Judged:
    """The seeds summarised, the variants set against the baseline and a linear
    model, and the training rows checked for features that reproduce the target."""

    evaluated: Evaluated
    summary: ComparisonSummary
    check: ReferenceCheck
    leaks: tuple[str, ...]

    @property
    def prepared(self) -> Prepared:
        return self.evaluated.prepared

    @property
    def results(self) -> list[SeedResult]:
        return list(self.evaluated.results)


@dataclass(frozen=True)
class Compared:
    """A dataset's comparison at its end: the result, and what the flow shows."""

    result: ComparisonResult
    markdown: str = ""  # the report, shown on the flow run ("" when reused)
    judged: Judged | None = None  # None when an earlier run's result was reused
    cell_record: dict | None = None  # a sweep cell's record (its per-seed values, run id)
    decision: Decision | None = None

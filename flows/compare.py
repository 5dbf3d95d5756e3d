"""One dataset's comparison: the chain ``bn-comparison`` runs for each dataset and
``bn-sweep`` for each cell of its grid. Composition only; the work is in
``tasks/`` and ``bnpipe``, the records passed between stages in ``bnpipe.stages``.

Each comparison is a subflow run of its own (``compare-<dataset>``), started by a
``compare`` task so that the datasets (or a sweep's cells) run at once: their
jobs share the Dask cluster, one thread each waits for its own. A failure ends
that dataset's MLflow run FAILED and the others go on; a stop (Ctrl-C, SIGTERM,
a cancelled flow run) cancels every job and ends every open run KILLED.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from bnpipe import references, report, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import NoFiniteModelError
from bnpipe.ingest import Snapshot
from bnpipe.ops import interrupts
from bnpipe.ops.cluster import TrainingCluster
from bnpipe.registry import Decision
from bnpipe.results import ComparisonResult
from bnpipe.settings import Settings
from bnpipe.stages import Checked, Compared, Evaluated, Judged, Prepared, Request
from bnpipe.tasks import sweeps
from bnpipe.tasks.data import download_dataset, keep_as_last_good, validate_dataset
from bnpipe.tasks.drift import assess_drift
from bnpipe.tasks.leaks import check_leaks
from bnpipe.tasks.references import compare_with_references
from bnpipe.tasks.registry import register_best
from bnpipe.tasks.reporting import ReferenceCheck, publish_report, summarize_comparison
from bnpipe.tasks.reuse import comparison_key, find_unchanged, keep_result
from bnpipe.tasks.runs import Guard, closing
from bnpipe.tasks.tracking import log_seed_runs, open_parent_run
from bnpipe.tasks.training import encode_dataset, evaluate, train
from bnpipe.tracking import ParentRun


@flow(
    name="compare-dataset",
    flow_run_name="compare-{request.label}",
    validate_parameters=False,  # records and a Dask client: not a deployment's form
    log_prints=True,
)
def compare_dataset(request: Request, dask: TrainingCluster) -> Compared:
    """download -> unchanged? (an earlier run's result, nothing retrained) -> open
    its MLflow run -> validate -> drift -> encode -> train (plain and bn over the
    seeds, on Dask) -> evaluate -> log -> judge (seeds, baseline, linear model,
    target leaks) -> decide (register; promote only past the champion rule) -> report."""
    with closing(request.label) as guard:
        snap = request.cell.checked.snap if request.cell else fetch(request, guard)
        key = keyed(request, snap)
        earlier = None if request.force else find_earlier(request, key)
        if earlier is not None:
            return earlier
        run = guard.open(open_run(request, snap, key))
        checked = (
            request.cell.checked
            if request.cell
            else check(request.spec, request.settings, snap, run)
        )
        data = encode_dataset(checked.frame, request.spec, request.config, run)
        prepared = Prepared(request, run, key, checked, data)
        with tempfile.TemporaryDirectory(prefix="bnpipe-models-") as models:
            evaluated = log(evaluate(train(prepared, dask, models)))
        judged = judge(evaluated)
        decision = register_best(judged, dask) if request.register else None
        return conclude(judged, decision)


@task(name="compare", cache_policy=NO_CACHE, task_run_name="compare-{request.label}")
def compare(request: Request, dask: TrainingCluster) -> Compared:
    """:func:`compare_dataset` as a task, so that several run at once."""
    return compare_dataset(request, dask)


def compare_all(
    requests: Sequence[Request], dask: TrainingCluster
) -> tuple[dict[str, Compared], dict[str, BaseException]]:
    """Every request's comparison at once. Returns the comparisons that ended and
    the errors of those that failed, each by its label. While the workers train,
    this process loads what the finish stage's plots and references import (~3 s
    off the critical path)."""
    preload = threading.Thread(target=_preload_finish, name="bnpipe-preload")
    preload.start()
    futures = {r.label: compare.submit(r, dask) for r in requests}
    try:
        for future in futures.values():
            future.wait()
    except BaseException as exc:  # Ctrl-C, SIGTERM: every comparison stops, runs end KILLED
        with interrupts.stopping_others(exc):
            dask.cancel_pending()
            for future in futures.values():
                future.wait(timeout=120)
        raise
    finally:
        # Joined on every way out: an interpreter that exits while a thread is
        # still importing matplotlib's C++ extensions can abort ("terminate called").
        preload.join()
    done, errors = {}, {}
    for label, future in futures.items():
        out = future.result(raise_on_failure=False)
        (errors if isinstance(out, BaseException) else done)[label] = out
    return done, errors


# ---------------------------------------------------------------------- the stages


def fetch(request: Request, guard: Guard) -> Snapshot:
    """The download, before any run opens (unchanged data opens none). When it
    fails, a run is opened all the same: the failure is on record in MLflow."""
    spec, settings = request.spec, request.settings
    try:
        return download_dataset(spec, settings, request.offline, request.fallback)
    except Exception:
        guard.open(open_parent_run(spec, request.config, settings, origin=request.origin))
        raise


def keyed(request: Request, snap: Snapshot) -> str:
    """What makes the result: data, catalog entry, suite, parameters, code."""
    spec, config, settings = request.spec, request.config, request.settings
    if request.cell:
        return sweeps.cell_key(spec, snap, config, settings)
    return comparison_key(spec, snap, config, settings)


def find_earlier(request: Request, key: str) -> Compared | None:
    """The result of an earlier finished comparison with ``key`` (a sweep's cell:
    copied under this sweep run), or None: then this one trains."""
    if request.cell is None:
        found = find_unchanged(request.spec, key, request.settings, request.register)
        return Compared(found) if found is not None else None
    cell, sweep_run = request.cell.cell, request.cell.sweep_run
    done = sweeps.find_complete_cells(sweep_run, {cell.label: key})
    if key not in done:
        return None
    return Compared(None, cell_record=sweeps.reuse_cell(sweep_run, cell, key, done[key]))


def open_run(request: Request, snap: Snapshot, key: str) -> ParentRun:
    """The comparison's parent run; a sweep cell's run under the sweep run."""
    if request.cell:
        cell, sweep_run = request.cell.cell, request.cell.sweep_run
        return sweeps.open_cell_run(sweep_run, cell, key, request.config, snap.sha256)
    spec, config, settings = request.spec, request.config, request.settings
    return open_parent_run(spec, config, settings, snap, key, request.origin)


def check(
    spec: DatasetSpec, settings: Settings, snap: Snapshot, run: ParentRun, drift: bool = True
) -> Checked:
    """Validate (Great Expectations: schema and sanity) and, with ``drift``, set
    today's rows against the champion's data. A sweep checks each dataset once."""
    frame, summary = validate_dataset(spec, snap, settings, run)
    return Checked(snap, frame, summary, assess_drift(spec, snap, frame, run) if drift else None)


def log(evaluated: Evaluated) -> Evaluated:
    """One MLflow child run per (variant, seed) under the comparison's run. A
    SQLite store keeps one writer: comparisons running at once take turns."""
    p = evaluated.prepared
    cell = p.request.cell
    began = time.perf_counter()
    with tracking.one_writer(p.request.settings.tracking_uri):
        results = log_seed_runs(
            p.run, evaluated.results, p.data, p.config, evaluated.learning_rate,
            p.checked.snap.sha256, snapshot_on=cell.sweep_run if cell else None,
            best_models_by=evaluation_primary(p.spec) if cell else None,
        )  # fmt: skip
    seconds = time.perf_counter() - began
    return replace(evaluated, results=tuple(results), log_seconds=seconds)


def judge(evaluated: Evaluated) -> Judged:
    """The seeds summarised (bn - plain, paired), the variants against the baseline
    and a linear model, the training rows checked for target leaks."""
    p = evaluated.prepared
    results = list(evaluated.results)
    summary = summarize_comparison(p.run, p.spec, results)
    check = ReferenceCheck(*compare_with_references(p.run, p.spec, p.data, results, summary))
    leaks = check_leaks(p.run, p.spec, p.data, check.refs)  # each one holds a promotion
    return Judged(evaluated, summary, check, tuple(leaks))


def conclude(judged: Judged, decision: Decision | None) -> Compared:
    """A comparison's end. A sweep cell keeps its record (what a later sweep
    reuses; a cell whose every seed diverged is the sweep's to judge). A
    comparison reports, and fails when no seed gave a finite model; its snapshot
    becomes the last good copy when it found one and was not held."""
    p, summary = judged.prepared, judged.summary
    if p.request.cell:
        cell = p.request.cell.cell
        record = sweeps.keep_cell(p.run, cell, p.key, judged.results, p.spec.task)
        return Compared(None, judged=judged, cell_record=record)
    links, markdown = publish_report(judged, decision) if p.request.report else ({}, "")
    if summary.best(judged.results) is None:
        raise NoFiniteModelError(
            f"{p.spec.name}: every seed diverged (non-finite loss): no finite model, "
            "nothing registered, champion unchanged"
        )
    outcome = decision.outcome if decision else "not registered"
    if outcome != "held" and not (p.checked.drift and p.checked.drift.hold_reasons()):
        keep_as_last_good(p.checked.snap, p.request.settings)  # held data is not the last good
    result = comparison_result(judged, decision, outcome, links)
    keep_result(p.run, result)  # what a later run with the same key shows
    return Compared(result, markdown, judged, decision=decision)


def comparison_result(
    judged: Judged, decision: Decision | None, outcome: str, links: dict[str, str]
) -> ComparisonResult:
    p, summary, check = judged.prepared, judged.summary, judged.check
    return ComparisonResult(
        dataset=p.spec.name,
        task=p.spec.task,
        run_id=p.run.run_id,
        experiment_id=p.run.experiment_id,
        data_sha256=p.checked.snap.sha256,
        data_source=p.checked.snap.source,
        seeds=p.config.seeds,
        primary_metric=summary.primary,
        winner=summary.winner,
        summaries=summary.summaries,  # the numbers the parent run's metrics are
        differences=summary.intervals,
        diverged=tuple(summary.diverged),
        promotion=decision,
        outcome=outcome,
        drift=p.checked.drift.tag() if p.checked.drift else "",
        references=check.metrics_by_reference(),
        verdicts=check.verdicts,
        headline=check.headline,
        links=links,
    )


def evaluation_primary(spec: DatasetSpec) -> str:
    from bnpipe.evaluation import primary_metric

    return primary_metric(spec.task)


def _preload_finish() -> None:
    report.preload()
    references.preload()

"""The ``bn-comparison`` flow: composition only; the work is in ``tasks/`` and ``bnpipe``."""

from __future__ import annotations

from dataclasses import dataclass, replace

from prefect import flow

from bnpipe.catalog import DatasetSpec, get_spec, load_catalog
from bnpipe.comparison import ComparisonSummary, NoFiniteModelError, SeedResult
from bnpipe.features import Encoded
from bnpipe.gate import DriftCheck
from bnpipe.ingest import Snapshot
from bnpipe.ops import cluster
from bnpipe.params import RunConfig
from bnpipe.registry import Decision
from bnpipe.results import ComparisonResult
from bnpipe.settings import Settings, load_settings
from bnpipe.tasks.artifacts import show_comparison, show_unchanged
from bnpipe.tasks.data import download_dataset, keep_as_last_good, validate_dataset
from bnpipe.tasks.drift import assess_drift
from bnpipe.tasks.leaks import check_leaks
from bnpipe.tasks.references import compare_with_references
from bnpipe.tasks.registry import register_best
from bnpipe.tasks.reporting import ReferenceCheck, publish_report, summarize_comparison
from bnpipe.tasks.reuse import comparison_key, find_unchanged, keep_result
from bnpipe.tasks.runs import RunBook
from bnpipe.tasks.tracking import log_seed_runs
from bnpipe.tasks.training import encode_dataset
from bnpipe.tracking import ParentRun


@flow(name="bn-comparison", log_prints=True)
def bn_comparison(
    datasets: list[str] = ["boston", "iris"],  # noqa: B006 - Prefect renders the default in its form
    config: RunConfig = RunConfig(),  # noqa: B008 - immutable; Prefect renders its fields
    register_model: bool = True,
    offline: bool = False,
    fallback: bool = False,
    force: bool = False,
) -> dict[str, ComparisonResult]:
    """Plain MLP vs the same MLP with BatchNormalization, per dataset:
    download -> (the same data, parameters and code as an earlier finished run:
    its result, nothing to retrain, unless `force`) -> validate (Great
    Expectations: schema and sanity) -> drift against the champion's data ->
    split and encode; then plain and bn over K seeds for every dataset at once
    (on Dask: a local cluster, or BNPIPE_DASK_ADDRESS); then per dataset:
    evaluate on held-out rows -> log to MLflow (experiment bn-comparison-<dataset>)
    -> compare with the baseline and a linear model -> check the training rows
    for features that reproduce the target -> register the leader (chosen on the
    validation rows), promoting it to @champion only when it beats the baseline
    and the current champion on today's test rows, and holding it for review
    (flow run state "Held") when the data may leak the target, drifted, or the
    champion scores far off its own record -> report.

    `config` holds the training parameters; its defaults are the notebook's
    (RMSprop, batch 32, 1000 epochs, raw inputs). Those left empty (input and
    target scaling, learning rate) take each dataset's own default (datasets.yaml
    `defaults:`, which `bnpipe dataset init` writes), else the notebook's.
    `offline` trains on the last good download; `fallback` uses it (or the copy
    bundled with bnpipe) when the upstream cannot be reached. Scheduled retraining
    leaves `fallback` off: training again on old data is not what a schedule is for.

    Args:
        datasets: Names from the catalog (datasets.yaml), compared one after another.
        config: Training parameters; empty fields take each dataset's default.
        register_model: Register the leader in the MLflow registry (promoted to
            @champion only when it beats the current champion).
        offline: Train on the last good download; never reach the upstream.
        fallback: When the upstream cannot be reached, use the last good download
            or the copy bundled with bnpipe.
        force: Retrain even when an earlier finished run had the same data,
            catalog entry, suite, parameters and code.
    """
    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    specs = [get_spec(catalog, name) for name in datasets]  # fail fast on an unknown name
    configs = {spec.name: config.resolve(spec) for spec in specs}  # + each dataset's defaults
    out: dict[str, ComparisonResult] = {}
    # A dataset that fails ends its own run FAILED and the others go on (book.step);
    # Ctrl-C or a failed training ends every open run (see tasks/runs.py).
    with cluster.opened() as dask, RunBook(dask) as book:  # workers load TensorFlow meanwhile
        if dask.address:  # a scheduler that cannot be reached fails before any run opens
            dask.client()
        prepared: list[Prepared] = []
        for spec in specs:
            cfg = configs[spec.name]
            with book.step(spec.name):
                snap = book.before_open(spec, cfg, settings, download_dataset, offline, fallback)
                key = comparison_key(spec, snap, cfg, settings)
                earlier = None if force else find_unchanged(spec, key, settings, register_model)
                if earlier is not None:  # trains nothing, logs nothing, registers nothing
                    out[spec.name] = earlier
                    show_unchanged(earlier)  # on the flow run: the earlier table, its link
                    continue
                parent = book.open(spec, cfg, settings, snap, key)
                frame, checked = validate_dataset(spec, snap, settings, parent)
                drift = assess_drift(spec, snap, frame, parent)
                data = encode_dataset(frame, spec, cfg, parent)
                prepared.append(Prepared(spec, parent, snap, data, checked, drift))

        # plain and bn of every dataset at once, one Dask job per (dataset, variant)
        trained = book.train([(p.spec, p.data, configs[p.spec.name]) for p in prepared])

        for p, (results, lr) in zip(prepared, trained, strict=True):
            spec, parent, cfg = p.spec, p.parent, configs[p.spec.name]
            with book.step(spec.name, last=True):
                results = log_seed_runs(parent, results, p.data, cfg, lr, p.snap.sha256)
                summary = summarize_comparison(parent, spec, results)
                check = ReferenceCheck(
                    *compare_with_references(parent, spec, p.data, results, summary)
                )
                leaks = check_leaks(parent, spec, p.data, check.refs)  # each one holds
                decision = None
                if register_model:  # promoted, kept or held
                    decision = register_best(
                        parent, spec, p.data, results, summary, settings, p.drift,
                        check.verdicts, check.headline, leaks,
                    )  # fmt: skip
                links, markdown = publish_report(
                    parent, spec, p.snap, p.data, results, summary, p.validation_summary,
                    decision, p.drift, check, settings,
                )  # fmt: skip
                out[spec.name] = replace(  # with links into the MLflow UI
                    conclude(p, cfg, results, summary, check, decision, settings), links=links
                )
                keep_result(parent, out[spec.name])  # what a run with the same key shows
                show_comparison(spec.name, parent.run_id, markdown, links["parent"])  # flow run
    return book.outcome(out)


@dataclass
class Prepared:
    spec: DatasetSpec
    parent: ParentRun
    snap: Snapshot
    data: Encoded
    validation_summary: str
    drift: DriftCheck


def conclude(
    p: Prepared,
    config: RunConfig,
    results: list[SeedResult],
    summary: ComparisonSummary,
    check: ReferenceCheck,
    decision: Decision | None,
    settings: Settings,
) -> ComparisonResult:
    """A dataset's outcome. Its snapshot becomes the last good copy only when the
    comparison completed, found a finite model and was not held."""
    spec, parent = p.spec, p.parent
    if summary.best(results) is None:
        raise NoFiniteModelError(
            f"{spec.name}: every seed diverged (non-finite loss): no finite model, "
            "nothing registered, champion unchanged"
        )
    outcome = decision.outcome if decision else "not registered"
    if outcome != "held" and not p.drift.hold_reasons():  # held data is not the last good
        keep_as_last_good(p.snap, settings)
    return ComparisonResult(
        dataset=spec.name,
        task=spec.task,
        run_id=parent.run_id,
        experiment_id=parent.experiment_id,
        data_sha256=p.snap.sha256,
        data_source=p.snap.source,
        seeds=config.seeds,
        primary_metric=summary.primary,
        winner=summary.winner,
        summaries=summary.summaries,  # the numbers the parent run's metrics are
        differences=summary.intervals,
        diverged=tuple(summary.diverged),
        promotion=decision,
        outcome=outcome,
        drift=p.drift.tag(),
        references=check.metrics_by_reference(),
        verdicts=check.verdicts,
        headline=check.headline,
    )

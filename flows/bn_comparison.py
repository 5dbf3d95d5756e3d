"""The ``bn-comparison`` flow: composition only; the work is in ``tasks/`` and ``bnpipe``."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from typing import Literal

from prefect import flow, get_run_logger
from prefect.states import Completed

from bnpipe import cluster, references, report
from bnpipe.catalog import DatasetSpec, get_spec, load_catalog
from bnpipe.comparison import RunConfig
from bnpipe.features import Encoded
from bnpipe.gate import DriftCheck
from bnpipe.ingest import Snapshot
from bnpipe.settings import Settings, load_settings
from bnpipe.tracking import ParentRun
from bnpipe.validation import DataValidationError
from tasks import events
from tasks.data import download_dataset, keep_as_last_good, validate_dataset
from tasks.drift import assess_drift
from tasks.references import compare_with_references
from tasks.registry import register_best
from tasks.reporting import ReferenceCheck, publish_report, summarize_comparison
from tasks.tracking import log_seed_runs, open_parent_run
from tasks.training import encode_dataset, train_variants


@flow(name="bn-comparison", log_prints=True)
def bn_comparison(
    datasets: list[str] = ["boston", "iris"],  # noqa: B006 - Prefect renders the default in its form
    epochs: int = 1000,
    seeds: int = 5,
    batch_size: int = 32,
    optimizer: str = "rmsprop",
    learning_rate: float | None = None,
    input_scaling: Literal["none", "standard"] | None = None,
    target_scaling: Literal["none", "standard"] | None = None,
    split_seed: int = 42,
    engine: Literal["compiled", "fit"] = "compiled",
    register_model: bool = True,
    offline: bool = False,
    fallback: bool = False,
) -> dict[str, dict]:
    """Plain MLP vs the same MLP with BatchNormalization, per dataset:
    download -> validate (Great Expectations: schema and sanity) -> drift against
    the champion's data -> split and encode; then plain and bn over K seeds for
    every dataset at once (on Dask: a local cluster, or BNPIPE_DASK_ADDRESS); then per dataset: evaluate on
    held-out rows -> log to MLflow (experiment bn-comparison-<dataset>) -> register
    the leader, promoting it to @champion only when it beats the current champion
    on today's test rows, and holding it for review (flow run state "Held") when
    the data drifted or the champion scores far off its own record.

    Defaults are the notebook's: RMSprop, batch 32, 1000 epochs, raw inputs.
    `input_scaling`, `target_scaling` and `learning_rate` left empty (None) take
    each dataset's own default (datasets.yaml `defaults:`, which `bnpipe dataset
    init` writes), else the notebook's (raw inputs, raw target, Keras' learning
    rate); a value given applies to every dataset of the run.
    `offline` trains on the last good download; `fallback` uses it (or the copy
    bundled with bnpipe) when the upstream cannot be reached. Scheduled retraining
    leaves `fallback` off: training again on old data is not what a schedule is for.
    """
    config = RunConfig(
        epochs=epochs,
        seeds=seeds,
        batch_size=batch_size,
        optimizer=optimizer,
        learning_rate=learning_rate,
        input_scaling=input_scaling,
        target_scaling=target_scaling,
        split_seed=split_seed,
        engine=engine,
    )
    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    specs = [get_spec(catalog, name) for name in datasets]  # fail fast on an unknown name
    # Per dataset: the run's values, and each dataset's defaults for those left None.
    configs = {spec.name: config.resolve(spec) for spec in specs}
    with cluster.opened() as dask:  # its workers load TensorFlow meanwhile (~10 s)
        if dask.address:  # a scheduler that cannot be reached fails before any run opens
            dask.client()
        return _compare(dask, specs, configs, settings, register_model, offline, fallback)


def _compare(
    dask: cluster.TrainingCluster,
    specs: list[DatasetSpec],
    configs: dict[str, RunConfig],
    settings: Settings,
    register_model: bool,
    offline: bool,
    fallback: bool,
):
    # Every dataset is prepared first, then all variants of all datasets train at
    # once (4 loops on 2 cores), then each dataset's results are logged, judged and
    # registered. A dataset that fails ends its own runs FAILED and the others go
    # on; the flow then fails with the first error. Ctrl-C ends every open run KILLED.
    errors: list[BaseException] = []
    open_runs: dict[str, ParentRun] = {}  # dataset -> its parent run, until it ends

    def end(name: str, exc: BaseException | None = None) -> None:
        parent = open_runs.pop(name)
        if exc is not None:
            get_run_logger().error("%s: comparison failed: %s", name, exc)
        if isinstance(exc, DataValidationError):
            events.emit(events.REFUSED, name, {"reason": str(exc), "run_id": parent.run_id})
        parent.end(exc)

    out: dict[str, dict] = {}
    preload: threading.Thread | None = None
    try:
        prepared: list[Prepared] = []
        for spec in specs:
            cfg = configs[spec.name]
            parent = open_runs[spec.name] = open_parent_run(spec, cfg, settings)
            try:
                prepared.append(prepare_dataset(spec, parent, cfg, settings, offline, fallback))
            except Exception as exc:
                end(spec.name, exc)
                errors.append(exc)
        # While the workers trace and train, this process has a core to spare:
        # load what the finish stage's plots need (~1 s on its critical path).
        # Joined on every way out: an interpreter that exits while a thread is still
        # importing matplotlib's C++ extensions can abort ("terminate called ...").
        if prepared:
            preload = threading.Thread(target=_preload_finish, name="bnpipe-preload")
            preload.start()
        with tempfile.TemporaryDirectory(prefix="bnpipe-models-") as models_dir:
            trained = (
                train_variants(
                    dask, [(p.spec, p.data, configs[p.spec.name]) for p in prepared], models_dir
                )
                if prepared
                else []
            )
            for p, (results, lr) in zip(prepared, trained, strict=True):
                try:
                    out[p.spec.name] = finish_dataset(
                        p, results, lr, configs[p.spec.name], settings, register_model
                    )
                except Exception as exc:
                    end(p.spec.name, exc)
                    errors.append(exc)
                else:
                    end(p.spec.name)
    except BaseException as exc:  # Ctrl-C, SIGTERM, or training failed: every open run ends
        dask.cancel_pending()  # the other jobs too: their task threads return at once
        for name in list(open_runs):
            end(name, exc)
        raise
    finally:
        if preload is not None:
            preload.join()
    if errors:
        raise errors[0]
    held = {name: r["promotion"]["holds"] for name, r in out.items() if r["outcome"] == "held"}
    for name, reasons in held.items():
        payload = {"reasons": reasons, "version": out[name]["promotion"]["version"]}
        events.emit(events.HELD, name, payload | {"run_id": out[name]["run_id"]})
    if held:
        message = "; ".join(f"{n}: promotion held: {'; '.join(r)}" for n, r in held.items())
        return Completed(name="Held", message=message, data=out)
    return out


def _preload_finish() -> None:
    """What the finish stage needs and training can hide: matplotlib's
    canvas and fonts, scikit-learn for the references (~3 s of imports)."""
    report.preload()
    references.preload()


@dataclass
class Prepared:
    spec: DatasetSpec
    parent: ParentRun
    snap: Snapshot
    data: Encoded
    validation_summary: str
    drift: DriftCheck


class NoFiniteModelError(RuntimeError):
    """Every seed of every variant diverged: nothing to register."""


def prepare_dataset(
    spec: DatasetSpec,
    parent: ParentRun,
    config: RunConfig,
    settings: Settings,
    offline: bool,
    fallback: bool,
) -> Prepared:
    snap = download_dataset(spec, settings, parent, offline, fallback)
    frame, validation_summary = validate_dataset(spec, snap, settings, parent)
    drift = assess_drift(spec, snap, frame, parent)
    data = encode_dataset(frame, spec, config, parent)
    return Prepared(spec, parent, snap, data, validation_summary, drift)


def finish_dataset(
    p: Prepared, results, lr: float, config: RunConfig, settings: Settings, register: bool
) -> dict:
    """Log the seed runs, judge bn against plain, register, report; the snapshot
    becomes the last good copy only when all of that completed and was not held."""
    spec, parent = p.spec, p.parent
    results = log_seed_runs(parent, results, p.data, config, lr, p.snap.sha256)
    summary = summarize_comparison(parent, spec, results)
    refs, verdicts, headline = compare_with_references(parent, spec, p.data, results, summary)
    decision = (
        register_best(parent, spec, p.data, results, summary, settings, p.drift, verdicts, headline)
        if register
        else None
    )
    publish_report(
        parent,
        spec,
        p.snap,
        p.data,
        results,
        summary,
        p.validation_summary,
        decision,
        p.drift,
        ReferenceCheck(refs, verdicts, headline),
    )
    if summary.best(results) is None:
        raise NoFiniteModelError(
            f"{spec.name}: every seed diverged (non-finite loss): no finite model, "
            "nothing registered, champion unchanged"
        )
    outcome = decision.outcome if decision else "not registered"
    if outcome != "held" and not p.drift.hold_reasons():  # held data is not the last good
        keep_as_last_good(p.snap, settings)
    return {
        "dataset": spec.name,
        "task": spec.task,
        "run_id": parent.run_id,
        "experiment_id": parent.experiment_id,
        "data_sha256": p.snap.sha256,
        "data_source": p.snap.source,
        "primary_metric": summary.primary,
        "winner": summary.winner,
        "metrics": summary.parent_metrics(),
        "seeds": config.seeds,
        "diverged": [f"{v}-seed{s}" for v, s in summary.diverged],
        "promotion": decision.to_dict() if decision else None,
        "outcome": outcome,
        "drift": p.drift.tag(),
        "references": {"baseline": refs.baseline_metrics, "linear": refs.linear_metrics},
        "verdicts": verdicts,
        "headline": headline,
    }

"""Open, fill and close the MLflow runs of one comparison."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import keys, reuse, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import SeedResult
from bnpipe.features import Encoded
from bnpipe.ingest import Snapshot, redact
from bnpipe.params import RunConfig
from bnpipe.settings import Settings
from bnpipe.stages import Origin
from bnpipe.tasks.data import tag_snapshot
from bnpipe.tracking import ParentRun


@task(name="open-parent-run", cache_policy=NO_CACHE, retries=0)
def open_parent_run(
    spec: DatasetSpec,
    config: RunConfig,
    settings: Settings,
    snap: Snapshot | None = None,
    key: str | None = None,
    origin: Origin | None = None,
) -> ParentRun:
    """Create the experiment if needed (with the runs table's saved view: the
    primary test metric and the winner), end runs a killed process left RUNNING,
    and start the flow run's parent run with its tags and params: the data's
    lineage (``snap``) and the ``comparison_key`` when known. ``origin``: the flow
    run it belongs to (the deployment's, not the dataset's subflow); default: this one."""
    from prefect.runtime import flow_run

    from bnpipe.evaluation import primary_metric

    logger = get_run_logger()
    client, exp_id = open_experiment(settings, tracking.experiment_name(spec.name))
    try:  # the runs table's columns in the UI: never worth a failed run
        tracking.ensure_runs_view(client, exp_id, primary_metric(spec.task))
    except Exception as exc:  # noqa: BLE001
        logger.warning("%s: could not save the MLflow runs view: %s", spec.name, exc)
    origin = origin or Origin(flow_run.get_id(), flow_run.get_name())
    flow_run_id = origin.flow_run_id or "none"
    run_id = tracking.start_run(
        client,
        exp_id,
        run_name=tracking.parent_run_name(
            spec.name, config.epochs, config.seeds, origin.flow_run_name
        ),
        tags={
            "dataset": spec.name,
            "task_type": spec.task,
            "git_commit": keys.git_commit(settings.project_dir),
            "prefect_flow_run_id": flow_run_id,
            "source_url": redact(spec.source_url(settings.data_mirror)),
            **tracking.owner_tags(),
            **({reuse.KEY_TAG: key} if key else {}),
        },
    )
    parent = ParentRun(settings.tracking_uri, exp_id, run_id)
    if snap is not None:
        tag_snapshot(parent, snap)
    parent.log_params(config.parent_params())  # learning_rate: with the seed runs
    logger.info(
        "%s: MLflow run %s in experiment %s (%s)",
        spec.name,
        run_id,
        tracking.experiment_name(spec.name),
        tracking.redact_uri(settings.tracking_uri),
    )
    return parent


def open_experiment(settings: Settings, name: str):
    """(client, experiment id) of ``name``, created when missing, with the runs a
    killed process left RUNNING there ended KILLED (and said so)."""
    client = tracking.connect(settings.tracking_uri)
    exp_id = tracking.ensure_experiment(client, name, _experiment_artifacts(settings, name))
    stale = tracking.close_stale_runs(client, exp_id)
    if stale:
        get_run_logger().warning(
            "%s: ended %d run(s) a previous process left RUNNING: %s",
            name,
            len(stale),
            ", ".join(stale),
        )
    return client, exp_id


def _experiment_artifacts(settings: Settings, experiment: str) -> str | None:
    """``<artifact root>/<experiment>`` beside a SQLite store; the server's choice otherwise."""
    root = tracking.artifact_root_for(settings.tracking_uri, settings.artifact_root)
    return f"{root}/{experiment}" if root else None


@task(name="log-seed-runs", cache_policy=NO_CACHE)
def log_seed_runs(
    parent: ParentRun,
    results: Sequence[SeedResult],
    data: Encoded,
    config: RunConfig,
    learning_rate: float,
    data_sha256: str,
    snapshot_on: ParentRun | None = None,
    best_models_by: str | None = None,
) -> list[SeedResult]:
    """One child run per (variant, seed): params, per-epoch curves, test and
    validation metrics, model (with ``best_models_by`` a primary metric, as a
    sweep's cells log: for each variant's best seed by it on the validation rows only).
    The parent run gets ``learning_rate`` here, as the Dask job reported it.
    ``snapshot_on``: the run validate logged the snapshot on, when not ``parent``
    (a sweep's run, for its cell runs)."""
    from bnpipe.comparison import best_result, by_variant
    from bnpipe.evaluation import higher_is_better, validation_name

    logger = get_run_logger()
    parent.log_params({"learning_rate": learning_rate})
    params = config.seed_params(learning_rate, data_sha256)
    datasets = (snapshot_on or parent).datasets()  # the snapshot, as validate logged it
    splits = tracking.split_entities(datasets[0], data.split) if datasets else None
    models = list(results)
    if best_models_by:
        by, higher = validation_name(best_models_by), higher_is_better(best_models_by)
        best = [best_result(rs, by, higher) for rs in by_variant(results).values()]
        models = [r for r in best if r is not None]
    for r in results:
        r.run_id, r.model_uri = tracking.log_child_run(
            parent.client,
            parent.experiment_id,
            parent.run_id,
            variant=r.variant,
            seed=r.seed,
            params=params,
            history=r.history,
            metrics=r.metrics,
            val_metrics=r.val_metrics,
            model_path=r.model_path,
            preprocessor=data.pre,
            tags={"dask_worker": r.worker} if r.worker else None,
            datasets=datasets,
            dataset_name=datasets[0].name if datasets else "",
            splits=splits,
            log_model=any(r is m for m in models),
        )
        state = "DIVERGED (run FAILED, model not logged)" if r.diverged else "logged"
        logger.info("%s-seed%d: %s %s", r.variant, r.seed, _fmt(r.metrics), state)
    return list(results)


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())

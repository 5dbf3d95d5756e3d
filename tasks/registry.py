"""Register the leading model and apply the champion rule."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import jobs, registry, tracking
from bnpipe.ingest import redact
from bnpipe.ops.cluster import TrainingCluster
from bnpipe.settings import Settings
from bnpipe.stages import Judged
from bnpipe.tracking import ParentRun

PROMOTION_TIMEOUT = 900.0  # seconds to wait for another run's promotion of the same dataset


@contextlib.contextmanager
def promotion_lock(dataset: str, settings: Settings) -> Iterator[None]:
    """One promotion of ``dataset`` at a time: a file lock on this machine, and a
    Prefect global concurrency limit (``bnpipe-registry-<dataset>``, one slot) for
    every host that shares the Prefect API. The limit is created when missing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists

    limit = f"bnpipe-registry-{dataset}"
    with registry.registry_lock(settings.state_dir / "locks" / f"registry-{dataset}.lock"):
        with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=limit, limit=1)
            )
        with concurrency(limit, occupy=1, timeout_seconds=PROMOTION_TIMEOUT, strict=True):
            yield


@task(name="register", cache_policy=NO_CACHE)
def register_best(
    judged: Judged, dask: TrainingCluster, on: ParentRun | None = None
) -> registry.Decision | None:
    """Register the leading variant's best seed (both chosen on the validation rows)
    as a new version of ``bnpipe-<dataset>``; move ``@champion`` to it only when it
    beats the champion on today's test rows (the champion scores on a Dask worker:
    this process does not load TensorFlow), and hold it for review when the data
    may leak the target, drifted, or the champion scores off its record.

    ``on``: the run that records the decision (a sweep's run for its best cell;
    else the comparison's own)."""
    logger = get_run_logger()
    p = judged.prepared
    spec, data, summary, settings = p.spec, p.data, judged.summary, p.request.settings
    parent = on or p.run
    results = judged.results
    best = registry.leading_seed(summary, results)
    if best is None:
        logger.warning("%s: every seed diverged; nothing registered, champion unchanged", spec.name)
        parent.tag({"promotion": "skipped: no finite model"})
        return None
    name = tracking.registered_model_name(spec.name)

    def champion_predictions():
        files, rows = registry.champion_model(name, data.split.test[list(spec.features)])
        frame = dask.run(jobs.predict_logged, files, rows, key=f"predict-champion-{spec.name}")
        return registry.prediction_array(frame, spec.task, data.pre.classes)

    with promotion_lock(spec.name, settings):
        decision = registry.register_challenger(
            parent.client, name, best, dataset=spec.name, task=spec.task,
            metric=summary.primary, y_true=data.y_test_true,
            champion_predictions=champion_predictions, parent_run_id=parent.run_id,
            drift=p.checked.drift, verdicts=judged.check.verdicts,
            headline=judged.check.headline, warn=logger.warning,
            chosen=summary.choice(results, val_rows=len(data.x_val), test_rows=len(data.x_test)),
            leaks=judged.leaks,
            about=registry.model_description(spec, data.pre.classes, redact(spec.url)),
        )  # fmt: skip
    if decision.chosen:
        logger.info("%s: %s", spec.name, decision.chosen)
    parent.log_text(registry.decision_json(decision), "promotion.json")
    parent.tag(decision.run_tags())
    (logger.warning if decision.holds else logger.info)(decision.summary(spec.name))
    return decision

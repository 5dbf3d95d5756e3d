"""Register the leading model and apply the champion rule."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import gate, registry, stats, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import ComparisonSummary, SeedResult
from bnpipe.features import Encoded
from bnpipe.settings import Settings
from bnpipe.tracking import ParentRun


def _champion_frame(name: str, rows):
    """The champion's predictions for raw ``rows``: its MLflow model folder is
    fetched here, its Keras model runs on a Dask worker (this process does not
    load TensorFlow), exactly as its pyfunc ``predict`` would."""
    import mlflow
    from mlflow.models import Model

    from bnpipe import jobs
    from bnpipe.ops import cluster

    with tempfile.TemporaryDirectory(prefix="bnpipe-champion-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}@{registry.CHAMPION}", dst_path=tmp
        )
        rows = registry.conform(rows, Model.load(local).get_input_schema())
        files = jobs.model_files(local)
    with cluster.opened() as dask:  # the run's cluster; a cluster of its own outside a run
        return dask.run(jobs.predict_logged, files, rows, key=f"predict-champion-{name}")


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
    parent: ParentRun,
    spec: DatasetSpec,
    data: Encoded,
    results: Sequence[SeedResult],
    summary: ComparisonSummary,
    settings: Settings,
    drift: gate.DriftCheck | None = None,
    verdicts: dict[str, str] | None = None,
    headline: str | None = None,
) -> registry.Decision | None:
    """Register the leading variant's best seed as a new version of ``bnpipe-<dataset>``;
    move ``@champion`` to it only when it beats the champion on today's test rows, and
    hold it for review when the data drifted or the champion scores off its record."""
    logger = get_run_logger()
    leader = summary.leader()
    best = summary.best([r for r in results if r.variant == leader])
    if best is None or best.model_uri is None:
        logger.warning("%s: every seed diverged; nothing registered, champion unchanged", spec.name)
        parent.tag({"promotion": "skipped: no finite model"})
        return None
    name = tracking.registered_model_name(spec.name)
    with promotion_lock(spec.name, settings):
        client = parent.client
        champion = registry.current_champion(client, name)
        champion_pred, champion_error = None, None
        if champion is not None:
            try:
                frame = _champion_frame(name, data.split.test[list(spec.features)])
                champion_pred = registry.prediction_array(frame, spec.task, data.pre.classes)
            except Exception as exc:  # noqa: BLE001 - a champion that cannot score today's rows is beaten
                champion_error = str(exc).strip().splitlines()[0][:300]
                logger.warning(
                    "%s: champion v%s cannot score today's test rows: %s",
                    spec.name,
                    champion.version,
                    champion_error,
                )
        promote, reason, score, champ_score, interval = registry.decide(
            task=spec.task,
            metric=summary.primary,
            y_true=data.y_test_true,
            challenger_pred=best.predictions,
            champion_pred=champion_pred,
            champion_error=champion_error,
        )
        lo, hi = stats.score_interval(
            spec.task, data.y_test_true, best.predictions, metric=summary.primary
        )
        holds = []  # what the data says first, then whether the model is worth it
        if champion is not None:
            holds += drift.hold_reasons() if drift is not None else []
            off = registry.off_its_record(
                champion.tags, champ_score, summary.primary, str(champion.version)
            )
            holds += [off] if off else []
        # Only a variant that beats doing nothing can be champion, the first version too
        # (a challenger that stays behind the champion anyway is simply kept).
        if (
            promote
            and verdicts is not None
            and verdicts.get(f"{best.variant}_vs_baseline") != "better"
        ):
            nobody = all(v != "better" for k, v in verdicts.items() if k.endswith("_vs_baseline"))
            holds.append(
                headline
                if nobody and headline
                else f"{best.variant} is not better than the baseline on {summary.primary}"
            )
        decision = registry.Decision(
            model_name=name,
            promoted=promote,
            reason=reason,
            metric=summary.primary,
            challenger_run_id=best.run_id,
            challenger_variant=best.variant,
            challenger_score=score,
            previous_champion=str(champion.version) if champion is not None else None,
            champion_score=champ_score,
            interval=interval,
            score_interval={"ci_low": lo, "ci_high": hi, "rows": len(data.y_test_true)},
        )
        registry.hold(decision, holds)
        registry.register(
            client,
            decision,
            best.model_uri,
            tags={
                "dataset": spec.name,
                "variant": best.variant,
                "seed": str(best.seed),
                "parent_run_id": parent.run_id,
            },
        )
    parent.log_text(registry.decision_json(decision), "promotion.json")
    parent.tag(
        {
            "promotion": decision.promotion_tag(),
            "registered_version": decision.version,
            "champion_version": decision.version
            if decision.promoted
            else (decision.previous_champion or ""),
        }
    )
    if decision.holds:
        logger.warning(
            "%s: registered %s version %s; promotion HELD for review: %s "
            "(promote by hand: bnpipe promote %s %s --reason ...)",
            spec.name,
            name,
            decision.version,
            "; ".join(decision.holds),
            spec.name,
            decision.version,
        )
    else:
        logger.info(
            "%s: registered %s version %s; %s: %s",
            spec.name,
            name,
            decision.version,
            "PROMOTED to champion" if decision.promoted else "champion kept",
            decision.reason,
        )
    return decision

"""One child run per (variant, seed): its params, curves, test metrics, model,
dataset inputs and description; a diverged seed's run ends FAILED, unlogged.

The logged model is named like its run (``bn-seed3``) and carries the metrics it
is judged by: the last epoch's ``loss`` and ``val_loss``, the test metrics with
the test rows as their dataset, the validation metrics with the validation rows.
MLflow by itself would link the run's metrics at the model's step, which for
a model logged at step 0 are the first epoch's loss and the test metrics with
no dataset: the model is logged at the step after the last epoch, where the run
has no metric, and its metrics are linked here."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

from bnpipe.tracking.datasets import log_dataset
from bnpipe.tracking.runs import end_run, start_run, status_for
from bnpipe.tracking.writes import (
    DESCRIPTION_TAG,
    _write,
    log_curves,
    log_metrics,
    log_params,
    set_tags,
)


def log_child_run(
    client,
    experiment_id: str,
    parent_id: str,
    *,
    variant: str,
    seed: int,
    params: Mapping[str, object],
    history: Mapping[str, list[float]],
    metrics: Mapping[str, float],
    model_path,
    preprocessor,
    log_model: bool = True,
    tags: Mapping[str, object] | None = None,
    datasets: Iterable = (),
    dataset_name: str = "",
    val_metrics: Mapping[str, float] | None = None,
    splits: Mapping[str, object] | None = None,
) -> tuple[str, str | None]:
    """One child run per (variant, seed): params, curves, test metrics, the
    validation metrics (``val_metrics``: ``val_rmse``, ``val_log_loss``, ...),
    model, the parent's dataset inputs (``datasets``, entities), the validation
    and test rows as inputs (``splits``: :func:`~bnpipe.tracking.split_entities`)
    and a description.

    Returns the run id and the logged model's URI (None when the seed diverged:
    a non-finite model is never logged, and its run ends FAILED)."""
    import mlflow

    val_metrics = dict(val_metrics or {})
    diverged = any(not math.isfinite(v) for vs in history.values() for v in vs[-1:]) or any(
        not math.isfinite(v) for v in (*metrics.values(), *val_metrics.values())
    )
    description = child_description(variant, seed, metrics, dataset_name, diverged)
    run_id = start_run(
        client,
        experiment_id,
        run_name=f"{variant}-seed{seed}",
        tags={"variant": variant, "seed": seed, DESCRIPTION_TAG: description, **(tags or {})},
        parent_id=parent_id,
    )
    try:
        log_params(client, run_id, {"variant": variant, "seed": seed, **params})
        stamp = int(time.time() * 1000)  # the model's links repeat these points exactly
        log_curves(client, run_id, history, timestamp=stamp)
        finite = {  # as SeedResult.diverged
            k: v for k, v in {**metrics, **val_metrics}.items() if math.isfinite(v)
        }
        log_metrics(client, run_id, finite, timestamp=stamp)
        for entity in datasets:
            log_dataset(client, run_id, entity)
        for context, entity in (splits or {}).items():
            log_dataset(client, run_id, entity, context=context)
        if diverged:
            set_tags(client, run_id, {"diverged": "true"})
            end_run(client, run_id, "FAILED")
            return run_id, None
        model_uri = None
        if log_model:
            from bnpipe import serving

            after = max([1, *(len(v) for v in history.values())])  # no metric at this step
            with mlflow.start_run(run_id=run_id):
                info = serving.log_model(
                    model_path, preprocessor, name=f"{variant}-seed{seed}", step=after
                )
                link_model_metrics(
                    client, run_id, info.model_id, history, metrics, val_metrics,
                    splits or {}, timestamp=stamp,
                )  # fmt: skip
            model_uri = info.model_uri
        else:
            end_run(client, run_id)
    except BaseException as exc:
        end_run(client, run_id, status_for(exc))
        raise
    return run_id, model_uri


def link_model_metrics(
    client,
    run_id: str,
    model_id: str,
    history: Mapping[str, list[float]],
    metrics: Mapping[str, float],
    val_metrics: Mapping[str, float],
    splits: Mapping[str, object],
    *,
    timestamp: int,
) -> None:
    """Link to the logged model ``model_id`` the final value of each curve (at its
    last epoch; ``val_loss`` with the validation rows), the test metrics with
    the test rows and the validation metrics with the validation rows (``splits``
    by context; without a dataset when there is none). Each point is the run's
    own (same key, value, step and ``timestamp``), so the run gains no second one."""
    from mlflow.entities import Metric

    def on(context: str) -> dict[str, str]:
        entity = splits.get(context)
        return {"dataset_name": entity.name, "dataset_digest": entity.digest} if entity else {}

    points = [
        Metric(key, float(values[-1]), timestamp, len(values) - 1, model_id=model_id,
               **(on("validation") if key.startswith("val_") else {}))
        for key, values in history.items()
        if values
    ]  # fmt: skip
    for context, values in (("test", metrics), ("validation", val_metrics)):
        points += [
            Metric(key, float(v), timestamp, 0, model_id=model_id, **on(context))
            for key, v in values.items()
        ]
    _write(client.log_batch, run_id, metrics=points)


def child_description(
    variant: str, seed: int, metrics: Mapping[str, float], dataset: str = "", diverged=False
) -> str:
    """A seed run's description: variant, seed and its test metrics."""
    on = f" on {dataset}" if dataset else ""
    lines = [f"**{variant}**, seed {seed}{on}", ""]
    if diverged:
        lines += ["Diverged (non-finite loss): no model logged; left out of the comparison.", ""]
    lines += ["| test metric | value |", "|---|---|"]
    lines += [f"| {k.removeprefix('test_')} | {v:.4g} |" for k, v in metrics.items()]
    return "\n".join(lines) + "\n"

"""One child run per (variant, seed): its params, curves, test metrics, model,
dataset inputs and description; a diverged seed's run ends FAILED, unlogged."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from bnpipe.tracking.datasets import log_dataset
from bnpipe.tracking.runs import end_run, start_run, status_for
from bnpipe.tracking.writes import DESCRIPTION_TAG, log_curves, log_metrics, log_params, set_tags


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
) -> tuple[str, str | None]:
    """One child run per (variant, seed): params, curves, test metrics, the
    validation metrics (``val_metrics``: ``val_rmse``, ``val_log_loss``, ...),
    model, the parent's dataset inputs (``datasets``, entities) and a description.

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
        log_curves(client, run_id, history)
        finite = {  # as SeedResult.diverged
            k: v for k, v in {**metrics, **val_metrics}.items() if math.isfinite(v)
        }
        log_metrics(client, run_id, finite)
        for entity in datasets:
            log_dataset(client, run_id, entity)
        if diverged:
            set_tags(client, run_id, {"diverged": "true"})
            end_run(client, run_id, "FAILED")
            return run_id, None
        model_uri = None
        if log_model:
            from bnpipe import serving

            with mlflow.start_run(run_id=run_id):
                model_uri = serving.log_model(model_path, preprocessor, name="model").model_uri
        else:
            end_run(client, run_id)
    except BaseException as exc:
        end_run(client, run_id, status_for(exc))
        raise
    return run_id, model_uri


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

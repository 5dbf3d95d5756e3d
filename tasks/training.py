"""Encode, train and evaluate."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import jobs
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import SeedResult
from bnpipe.features import Encoded, encode
from bnpipe.jobs import JobResult, TrainJob, seed_results
from bnpipe.models import VARIANTS
from bnpipe.ops.cluster import TrainingCluster
from bnpipe.params import RunConfig
from bnpipe.tracking import ParentRun


@task(name="encode", cache_policy=NO_CACHE)
def encode_dataset(
    df: pd.DataFrame, spec: DatasetSpec, config: RunConfig, parent: ParentRun | None = None
) -> Encoded:
    """Rows with a blank target (and, under ``missing: drop``, a blank feature) left out
    and counted; fixed-seed split (stratified for classification), blank cells by the
    catalog's policy, dates as parts, one-hot encoding, optional scaling of the inputs
    and of a regression target (``config`` resolved for ``spec``: the dataset's defaults
    fill what the run left unset)."""
    logger = get_run_logger()
    config = config.resolve(spec)  # a no-op for a resolved config
    data = encode(
        df,
        spec,
        split_seed=config.split_seed,
        scaling=config.input_scaling,
        target_scaling=config.target_scaling,
    )
    dropped = {k: v for k, v in data.dropped.items() if v}
    if parent is not None:
        parent.tag({f"dropped_rows_{k}": v for k, v in data.dropped.items()})
    if dropped:
        logger.warning(
            "%s: left out %s",
            spec.name,
            ", ".join(f"{n} row(s) with a {k.replace('_', ' ')}" for k, n in dropped.items()),
        )
    target = f", target scaling {config.target_scaling}" if spec.task == "regression" else ""
    logger.info(
        "%s: %d train / %d validation / %d test rows, %d inputs -> %d outputs, input scaling %s%s",
        spec.name,
        len(data.x_train),
        len(data.x_val),
        len(data.x_test),
        data.x_train.shape[1],
        data.pre.n_outputs,
        config.input_scaling,
        target,
    )
    return data


def train_variants(
    cluster: TrainingCluster,
    datasets: Sequence[tuple[DatasetSpec, Encoded, RunConfig]],
    models_dir: str,
    labels: Sequence[str] | None = None,
) -> list[tuple[list[SeedResult], float]]:
    """Every variant of every dataset at once: one ``train`` task per (dataset,
    variant), each one job on the Dask cluster carrying the dataset's seeds; then
    each seed scored on its held-out test rows, here. ``labels`` name the units
    when one dataset comes several times (a sweep's cells); else the dataset names.

    Per dataset: the results (trained models saved under ``models_dir``) and the
    optimizer's effective learning rate. Test metrics and predictions are in the
    target's own units (network outputs mapped back by ``data.pre.inverse_y``); the
    curves (``history``: loss, val_loss) are in the units the network trained on,
    i.e. of the standardized target under ``target_scaling="standard"``."""
    if not datasets:
        return []
    logger = get_run_logger()
    started = time.perf_counter()
    labels = list(labels) if labels is not None else [spec.name for spec, _, _ in datasets]
    futures = {
        (label, variant): train_variant.submit(
            cluster, make_job(spec, data, config, variant, label=label)
        )
        for label, (spec, data, config) in zip(labels, datasets, strict=True)
        for variant in VARIANTS
    }
    trained = []
    for label, (spec, data, _) in zip(labels, datasets, strict=True):
        results, lr = [], 0.0
        for variant in VARIANTS:
            out = futures[label, variant].result()
            lr = out.learning_rate
            results.extend(seed_results(out, spec.task, variant, data, models_dir))
            diverged = [r.seed for r in results if r.variant == variant and r.diverged]
            if diverged:
                logger.warning(
                    "%s/%s: seed(s) %s diverged (non-finite loss); left out of the comparison",
                    label,
                    variant,
                    diverged,
                )
        trained.append((results, lr))
    logger.info(
        "%s: %s seed(s) x %d variants trained in %.1f s on %s",
        ", ".join(spec.name for spec, _, _ in datasets),
        "/".join(dict.fromkeys(str(config.seeds) for _, _, config in datasets)),
        len(VARIANTS),
        time.perf_counter() - started,
        cluster.describe(),
    )
    return trained


def make_job(
    spec: DatasetSpec, data: Encoded, config: RunConfig, variant: str, label: str | None = None
) -> TrainJob:
    config = config.resolve(spec)  # a no-op for a resolved config
    return TrainJob(
        name=f"{label or spec.name}/{variant}",
        variant=variant,
        task=spec.task,
        x_train=data.x_train,
        y_train=data.y_train,
        x_val=data.x_val,
        y_val=data.y_val,
        x_test=data.x_test,
        seeds=tuple(config.seed_list),
        config=config,
    )


@task(name="train", cache_policy=NO_CACHE, task_run_name="train-{job.name}")
def train_variant(cluster: TrainingCluster, job: TrainJob) -> JobResult:
    """One (dataset, variant) over its seeds, as one job on a Dask worker."""
    logger = get_run_logger()
    started = time.perf_counter()

    def progress(message: str) -> None:
        logger.info("%s (%.1f s)", message, time.perf_counter() - started)

    out = cluster.run(jobs.train, job, key=job.key_prefix, job=job.name, progress=progress)
    logger.info("%s: trained on %s in %.1f s", job.name, out.worker or "?", out.seconds)
    return out

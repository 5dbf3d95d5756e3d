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
from bnpipe.jobs import JobResult, TrainJob
from bnpipe.jobs import make_job as make_job  # tests build a run's jobs as train_variants does
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
    """Every variant of every dataset at once (:func:`bnpipe.jobs.train_variants`): one
    ``train`` task per (dataset, variant), each one job on the Dask cluster carrying
    the dataset's seeds; then each seed scored on its held-out test rows, here.

    Test metrics and predictions are in the target's own units (network outputs
    mapped back by ``data.pre.inverse_y``); the curves (``history``: loss, val_loss)
    are in the units the network trained on, i.e. of the standardized target under
    ``target_scaling="standard"``."""
    if not datasets:
        return []
    logger = get_run_logger()
    started = time.perf_counter()
    trained = jobs.train_variants(
        datasets, models_dir, labels=labels, warn=logger.warning,
        submit=lambda job: train_variant.submit(cluster, job),
    )  # fmt: skip
    logger.info(jobs.trained_line(datasets, time.perf_counter() - started, cluster.describe()))
    return trained


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

"""Encode, train and evaluate: the stages between validated data and logged runs."""

from __future__ import annotations

import time

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import jobs
from bnpipe.catalog import DatasetSpec
from bnpipe.features import Encoded, encode
from bnpipe.jobs import JobResult, TrainJob
from bnpipe.models import VARIANTS
from bnpipe.ops.cluster import TrainingCluster
from bnpipe.params import RunConfig
from bnpipe.stages import Evaluated, Prepared, Trained
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


def train(prepared: Prepared, cluster: TrainingCluster, models_dir: str) -> Trained:
    """Both variants of one dataset at once: a ``train`` task per variant, each one
    job on the Dask cluster carrying the seeds (other datasets' and cells' jobs
    share the cluster meanwhile). The trained models are saved under ``models_dir``
    when they are evaluated."""
    logger = get_run_logger()
    started = time.perf_counter()
    futures = [
        train_variant.submit(
            cluster,
            jobs.make_job(prepared.spec, prepared.data, prepared.config, v, prepared.request.label),
        )
        for v in VARIANTS
    ]
    done = tuple(f.result() for f in futures)
    ended = time.perf_counter()
    logger.info(
        "%s: %d seed(s) x %d variants trained in %.1f s on %s",
        prepared.request.label, prepared.config.seeds, len(VARIANTS),
        ended - started, cluster.describe(),
    )  # fmt: skip
    return Trained(prepared, done, models_dir, (started, ended))


@task(
    name="evaluate",
    cache_policy=NO_CACHE,
    task_run_name="evaluate-{trained.prepared.request.label}",
)
def evaluate(trained: Trained) -> Evaluated:
    """Each seed scored on its validation rows (what the leader is chosen by) and
    its test rows (what judges it), in the target's own units: network outputs
    mapped back by ``data.pre.inverse_y``. The curves (``history``: loss,
    val_loss) stay in the units the network trained on, i.e. of the standardized
    target under ``target_scaling="standard"``. A diverged seed is named here."""
    p = trained.prepared
    results = []
    for variant, out in zip(VARIANTS, trained.jobs, strict=True):
        seeds = jobs.seed_results(out, p.spec.task, variant, p.data, trained.models_dir)
        diverged = [r.seed for r in seeds if r.diverged]
        if diverged:
            get_run_logger().warning(
                "%s/%s: seed(s) %s diverged (non-finite loss); left out of the comparison",
                p.request.label, variant, diverged,
            )  # fmt: skip
        results.extend(seeds)
    learning_rate = trained.jobs[-1].learning_rate if trained.jobs else 0.0
    return Evaluated(p, tuple(results), learning_rate, trained.span)


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

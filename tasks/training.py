"""Encode, train and evaluate."""

from __future__ import annotations

import time

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import evaluation
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import RunConfig, SeedResult
from bnpipe.features import Encoded, encode


@task(name="encode", cache_policy=NO_CACHE)
def encode_dataset(df: pd.DataFrame, spec: DatasetSpec, config: RunConfig) -> Encoded:
    """Fixed-seed split (stratified for classification), one-hot encoding, optional scaling."""
    data = encode(df, spec, split_seed=config.split_seed, scaling=config.input_scaling)
    get_run_logger().info(
        "%s: %d train / %d validation / %d test rows, %d inputs -> %d outputs, scaling %s",
        spec.name,
        len(data.x_train),
        len(data.x_val),
        len(data.x_test),
        data.x_train.shape[1],
        data.pre.n_outputs,
        config.input_scaling,
    )
    return data


@task(name="train", task_run_name="train-{variant}", cache_policy=NO_CACHE)
def train_variant(
    variant: str, spec: DatasetSpec, data: Encoded, config: RunConfig
) -> list[SeedResult]:
    """Train ``config.seeds`` seeds of one variant on the same split and score each
    on the held-out test rows."""
    from bnpipe.engine import TrainConfig, train_seeds

    logger = get_run_logger()
    started = time.perf_counter()

    def progress(seed: int, done: int, total: int) -> None:
        logger.info(
            "%s/%s seed %d: %d/%d epochs (%.1f s)",
            spec.name,
            variant,
            seed,
            done,
            total,
            time.perf_counter() - started,
        )

    trained = train_seeds(
        variant,
        spec.task,
        data.x_train,
        data.y_train,
        data.x_val,
        data.y_val,
        seeds=config.seed_list,
        config=TrainConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer=config.optimizer,
            learning_rate=config.learning_rate,
            engine=config.engine,
        ),
        on_epoch_block=progress,
    )
    results = []
    for t in trained:
        pred = t.model(data.x_test, training=False).numpy()
        pred = pred if spec.task == "classification" else pred[:, 0]
        results.append(
            SeedResult(
                variant=variant,
                seed=t.seed,
                history={k: list(map(float, v)) for k, v in t.history.items()},
                metrics=evaluation.evaluate(spec.task, data.y_test_true, pred),
                predictions=pred,
                seconds=t.seconds,
                model=t.model,
            )
        )
    diverged = [r.seed for r in results if r.diverged]
    if diverged:
        logger.warning(
            "%s/%s: seed(s) %s diverged (non-finite loss); they are left out of the comparison",
            spec.name,
            variant,
            diverged,
        )
    logger.info(
        "%s/%s: %d seeds trained in %.1f s",
        spec.name,
        variant,
        len(results),
        time.perf_counter() - started,
    )
    return results

"""Encode, train and evaluate."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import evaluation
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import RunConfig, SeedResult
from bnpipe.features import Encoded, encode
from bnpipe.models import VARIANTS
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


@task(name="train", cache_policy=NO_CACHE)
def train_variants(
    datasets: Sequence[tuple[DatasetSpec, Encoded, RunConfig]], models_dir: str
) -> list[tuple[list[SeedResult], float]]:
    """Train each dataset's ``config.seeds`` seeds of every variant, all datasets at
    once in the trainer process, and score each seed on its held-out test rows. Each
    dataset trains with its own config (resolved for it: its defaults may differ).

    Per dataset: the results (trained models saved under ``models_dir``) and the
    optimizer's effective learning rate. Test metrics and predictions are in the
    target's own units (network outputs mapped back by ``data.pre.inverse_y``); the
    curves (``history``: loss, val_loss) are in the units the network trained on,
    i.e. of the standardized target under ``target_scaling="standard"``."""
    from bnpipe import trainer
    from bnpipe.engine import TrainConfig

    if not datasets:
        return []
    logger = get_run_logger()
    started = time.perf_counter()
    datasets = [(spec, data, config.resolve(spec)) for spec, data, config in datasets]

    def train_config(config: RunConfig) -> TrainConfig:
        return TrainConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer=config.optimizer,
            learning_rate=config.learning_rate,
            engine=config.engine,
        )

    jobs = [
        trainer.Job(
            name=f"{spec.name}/{variant}",
            variant=variant,
            task=spec.task,
            x_train=data.x_train,
            y_train=data.y_train,
            x_val=data.x_val,
            y_val=data.y_val,
            x_test=data.x_test,
            seeds=tuple(config.seed_list),
            config=train_config(config),
        )
        for spec, data, config in datasets
        for variant in VARIANTS
    ]

    def progress(message: str) -> None:
        logger.info("%s (%.1f s)", message, time.perf_counter() - started)

    outputs = iter(trainer.shared().train(jobs, models_dir, progress=progress))
    trained = []
    for spec, data, _ in datasets:
        results, lr = [], 0.0
        for variant in VARIANTS:
            out = next(outputs)
            lr = out.learning_rate
            for s in out.seeds:
                output = data.pre.inverse_y(s.test_output)  # the target's own units
                pred = output if spec.task == "classification" else output[:, 0]
                results.append(
                    SeedResult(
                        variant=variant,
                        seed=s.seed,
                        history={k: list(map(float, v)) for k, v in s.history.items()},
                        metrics=evaluation.evaluate(spec.task, data.y_test_true, pred),
                        predictions=pred,
                        seconds=s.seconds,
                        model_path=s.model_path,
                    )
                )
            diverged = [r.seed for r in results if r.variant == variant and r.diverged]
            if diverged:
                logger.warning(
                    "%s/%s: seed(s) %s diverged (non-finite loss); left out of the comparison",
                    spec.name,
                    variant,
                    diverged,
                )
        trained.append((results, lr))
    logger.info(
        "%s: %s seed(s) x %d variants trained in %.1f s",
        ", ".join(spec.name for spec, _, _ in datasets),
        "/".join(dict.fromkeys(str(config.seeds) for _, _, config in datasets)),
        len(VARIANTS),
        time.perf_counter() - started,
    )
    return trained

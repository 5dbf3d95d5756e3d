"""The ``bn-comparison`` flow: composition only; the work is in ``tasks/`` and ``bnpipe``."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger

from bnpipe.catalog import get_spec, load_catalog
from bnpipe.comparison import RunConfig
from bnpipe.models import VARIANTS, effective_learning_rate
from bnpipe.settings import Settings, load_settings
from tasks.data import download_dataset, validate_dataset
from tasks.registry import register_best
from tasks.reporting import publish_report, summarize_comparison
from tasks.tracking import log_seed_runs, open_parent_run
from tasks.training import encode_dataset, train_variant


@flow(name="bn-comparison", log_prints=True)
def bn_comparison(
    datasets: list[str] = ["boston", "iris"],  # noqa: B006 - Prefect renders the default in its form
    epochs: int = 1000,
    seeds: int = 5,
    batch_size: int = 32,
    optimizer: str = "rmsprop",
    learning_rate: float | None = None,
    input_scaling: Literal["none", "standard"] = "none",
    split_seed: int = 42,
    engine: Literal["compiled", "fit"] = "compiled",
    register_model: bool = True,
    offline: bool = False,
) -> dict[str, dict]:
    """Plain MLP vs the same MLP with BatchNormalization, per dataset:
    download -> validate (Great Expectations) -> split and encode -> train plain and
    bn over K seeds -> evaluate on held-out rows -> log to MLflow
    (experiment bn-comparison-<dataset>) -> register the leader, promoting it to
    @champion only when it beats the current champion on today's test rows.

    Defaults are the notebook's: RMSprop, batch 32, 1000 epochs, raw inputs.
    """
    config = RunConfig(
        epochs=epochs,
        seeds=seeds,
        batch_size=batch_size,
        optimizer=optimizer,
        learning_rate=learning_rate,
        input_scaling=input_scaling,
        split_seed=split_seed,
        engine=engine,
    )
    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    specs = [get_spec(catalog, name) for name in datasets]  # fail fast on an unknown name
    return {
        spec.name: compare_dataset(spec, config, settings, register=register_model, offline=offline)
        for spec in specs
    }


def compare_dataset(
    spec, config: RunConfig, settings: Settings, *, register: bool, offline: bool
) -> dict:
    """One dataset's comparison; its MLflow runs end FAILED/KILLED on any error."""
    lr = effective_learning_rate(config.optimizer, config.learning_rate)
    parent = open_parent_run(spec, config, settings, lr)
    try:
        snap = download_dataset(spec, settings, parent, offline)
        frame, validation_summary = validate_dataset(spec, snap, settings, parent)
        data = encode_dataset(frame, spec, config)
        results = [r for variant in VARIANTS for r in train_variant(variant, spec, data, config)]
        results = log_seed_runs(parent, results, data, config, lr, snap.sha256)
        summary = summarize_comparison(parent, spec, results)
        decision = (
            register_best(parent, spec, data, results, summary, settings) if register else None
        )
        publish_report(parent, spec, snap, data, results, summary, validation_summary, decision)
    except BaseException as exc:
        get_run_logger().error("%s: comparison failed: %s", spec.name, exc)
        parent.end(exc)
        raise
    parent.end()
    return {
        "dataset": spec.name,
        "task": spec.task,
        "run_id": parent.run_id,
        "experiment_id": parent.experiment_id,
        "data_sha256": snap.sha256,
        "primary_metric": summary.primary,
        "winner": summary.winner,
        "metrics": summary.parent_metrics(),
        "seeds": config.seeds,
        "diverged": [f"{v}-seed{s}" for v, s in summary.diverged],
        "promotion": decision.to_dict() if decision else None,
    }

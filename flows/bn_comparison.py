"""The ``bn-comparison`` flow: composition only; each dataset's chain is
``bnpipe.flows.compare.compare_dataset``, the work is in ``tasks/`` and ``bnpipe``."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from bnpipe.catalog import get_spec, load_catalog
from bnpipe.flows.compare import compare_all
from bnpipe.ops.cluster import TrainingCluster
from bnpipe.params import RunConfig
from bnpipe.results import ComparisonResult
from bnpipe.settings import load_settings
from bnpipe.stages import Origin, Request
from bnpipe.tasks.artifacts import show_comparison, show_unchanged
from bnpipe.tasks.runs import outcome


@flow(name="bn-comparison", log_prints=True)
def bn_comparison(
    datasets: list[str] = ["boston", "iris"],  # noqa: B006 - Prefect renders the default in its form
    config: RunConfig = RunConfig(),  # noqa: B008 - immutable; Prefect renders its fields
    register_model: bool = True,
    offline: bool = False,
    fallback: bool = False,
    force: bool = False,
) -> dict[str, ComparisonResult]:
    """Plain MLP vs the same MLP with BatchNormalization, on each dataset at once
    (a ``compare-<dataset>`` subflow each, their jobs on one Dask cluster: a local
    one, or BNPIPE_DASK_ADDRESS): download -> (the same data, parameters and code
    as an earlier finished run: its result, nothing to retrain, unless `force`)
    -> validate (Great Expectations: schema and sanity) -> drift against the
    champion's data -> split and encode -> train plain and bn over K seeds ->
    evaluate on the validation and test rows -> log to MLflow (experiment
    bn-comparison-<dataset>) -> judge against the baseline and a linear model,
    and check the training rows for features that reproduce the target ->
    register the leader (chosen on the validation rows), promoting it to
    @champion only when it beats the baseline and the current champion on
    today's test rows, and holding it for review (flow run state "Held") when
    the data may leak the target, drifted, or the champion scores far off its
    own record -> report. A dataset that fails ends its own run FAILED and the
    others go on; the flow then fails naming it.

    `config` holds the training parameters; its defaults are the notebook's
    (RMSprop, batch 32, 1000 epochs, raw inputs). Those left empty (input and
    target scaling, learning rate) take each dataset's own default (datasets.yaml
    `defaults:`, which `bnpipe dataset init` writes), else the notebook's.
    `offline` trains on the last good download; `fallback` uses it (or the copy
    bundled with bnpipe) when the upstream cannot be reached. Scheduled retraining
    leaves `fallback` off: training again on old data is not what a schedule is for.

    Args:
        datasets: Names from the catalog (datasets.yaml), compared at once.
        config: Training parameters; empty fields take each dataset's default.
        register_model: Register the leader in the MLflow registry (promoted to
            @champion only when it beats the current champion).
        offline: Train on the last good download; never reach the upstream.
        fallback: When the upstream cannot be reached, use the last good download
            or the copy bundled with bnpipe.
        force: Retrain even when an earlier finished run had the same data,
            catalog entry, suite, parameters and code.
    """
    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    specs = [get_spec(catalog, name) for name in datasets]  # fail fast on an unknown name
    origin = Origin(flow_run.get_id(), flow_run.get_name())
    requests = [
        Request(spec, config.resolve(spec), settings, origin, register_model, True,
                offline, fallback, force)
        for spec in specs
    ]  # fmt: skip
    with TrainingCluster() as dask:  # opened once for the flow run; its workers load TensorFlow
        done, errors = compare_all(requests, dask)
    for name, compared in done.items():  # on this flow run: the table and the run's link
        if compared.judged is None:
            show_unchanged(compared.result)
        else:
            show_comparison(
                name, compared.result.run_id, compared.markdown, compared.result.links["parent"]
            )
    return outcome({name: compared.result for name, compared in done.items()}, errors)

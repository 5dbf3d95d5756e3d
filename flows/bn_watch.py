"""The ``bn-watch`` flow: has any dataset changed upstream? Composition only.

It runs often (every 15 minutes in prefect.yaml) and stays light: a conditional
request and a hash per dataset, no TensorFlow, Great Expectations or MLflow.
New content emits ``bnpipe.data.changed``, on which the ``bn-comparison``
deployments are triggered.
"""

from __future__ import annotations

from prefect import flow

from bnpipe.catalog import get_spec, load_catalog
from bnpipe.settings import load_settings
from bnpipe.tasks.watch import check_upstream


@flow(name="bn-watch", log_prints=True)
def bn_watch(
    datasets: list[str] = ["boston", "iris"],  # noqa: B006 - Prefect renders the default in its form
) -> dict[str, dict]:
    """Look at each dataset's upstream (HTTP conditional request, else a download
    and its SHA-256) and emit the event `bnpipe.data.changed` for content neither
    announced before nor trained on last; the bn-comparison deployments start on it.

    Args:
        datasets: Names from the catalog (datasets.yaml) to watch.
    """
    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    specs = [get_spec(catalog, name) for name in datasets]  # fail fast on an unknown name
    # one unreachable upstream does not keep the others from being checked
    states = {spec.name: check_upstream(spec, settings, return_state=True) for spec in specs}
    failed = [state for state in states.values() if not state.is_completed()]
    if failed:
        return failed[0]  # the flow run fails with the first failure
    return {name: state.result() for name, state in states.items()}

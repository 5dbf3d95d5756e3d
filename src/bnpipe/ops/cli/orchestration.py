"""What a flow started from the terminal runs in: the Dask cluster, the Prefect
API and a checked MLflow store, and a console without Prefect's tracebacks."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from bnpipe.ops import interrupts
from bnpipe.settings import Settings


@contextlib.contextmanager
def orchestrated(settings: Settings, dask_address: str | None, debug: bool, load):
    """The Dask cluster, the Prefect API (a temporary server when none is
    configured) and a checked MLflow store; yields the flow ``load()`` returns,
    with the API connected."""
    from bnpipe import tracking, validation
    from bnpipe.ops import cluster
    from bnpipe.ops.local_api import prefect_api

    # Three things start at once: the Dask cluster (local workers load TensorFlow,
    # ~7 CPU-s each), a temporary Prefect server (when no Prefect API is configured,
    # ~8 CPU-s), and this process loads Prefect, MLflow and GX (~12 CPU-s).
    # The cluster is this process's: the flow connects to it by address
    # (dask.exported()), once per flow run. An unreachable address fails here,
    # in one line within seconds, before anything starts.
    with (
        cluster.TrainingCluster(dask_address) as dask,
        prefect_api(Path(os.environ["PREFECT_HOME"]), settings.state_dir / "logs") as api,
    ):
        print(
            f"bnpipe: orchestrated by {api.describe()}, training on {dask.describe()}",
            flush=True,
        )
        # an unreachable or read-only store fails here, in the first seconds
        client = tracking.connect(settings.tracking_uri)
        tracking.check_writable(
            client,
            settings.tracking_uri,
            tracking.artifact_root_for(settings.tracking_uri, settings.artifact_root),
        )
        flow_fn = load()
        # GX too, while the server boots: inside the flow its import would hold
        # up the data the (by then idle) Dask workers wait for.
        validation.preload()
        # A Ctrl-C that landed in an import's clean-up callback was swallowed
        # there ("Exception ignored in ... _get_module_lock"): raise it now.
        interrupts.check()
        if not debug:
            _console_without_tracebacks()
        with api.connected(), dask.exported():
            interrupts.check()
            yield flow_fn


def _console_without_tracebacks() -> None:
    """Prefect logs every failed task and flow with its traceback on the console,
    and the flow names each failed dataset; ``bnpipe run`` ends with the error in
    one clear line. So the terminal shows that line only: no tracebacks, and none
    of those failure records, unless ``--debug`` (the Prefect API's log keeps
    everything: its handler comes first)."""
    import logging

    from bnpipe.results import FAILURE_LOG_FIELD

    engine_failure = (  # Prefect's own lines about a failure the error line repeats
        "Finished in state Failed",
        "Encountered exception during execution",
        "Task run failed with",
    )

    class QuietFailures(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if hasattr(record, FAILURE_LOG_FIELD):
                return False
            if record.name.startswith("prefect.") and record.name.endswith("_runs"):
                message = record.getMessage()
                if message.startswith(engine_failure) and " - Retry " not in message:
                    return False
            record.exc_info = record.exc_text = record.stack_info = None
            return True

    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":  # the core does not import Prefect
            handler.addFilter(QuietFailures())

"""``bnpipe stack up|down|status``: the local Prefect + MLflow stack, on 127.0.0.1.

``up`` starts, each in its own process group and session:

* a Prefect server (API and UI; its SQLite database and ``PREFECT_HOME`` in
  ``<state>/stack/prefect``);
* a Prefect process worker on the ``bnpipe-process`` work pool (it creates the
  pool when missing), whose environment carries what the flows need
  (``MLFLOW_TRACKING_URI``, ``BNPIPE_STATE_DIR``, ``BNPIPE_DATA_MIRROR``,
  ``BNPIPE_PROJECT_DIR``, ``PREFECT_API_URL``); then ``prefect deploy --all``
  applies ``prefect.yaml`` (deployments ``bn-comparison/boston`` and
  ``bn-comparison/iris`` with their retraining schedules);
* an MLflow server (UI and REST API) over the very store the flows log to,
  with artifacts in the folder beside it (none when ``MLFLOW_TRACKING_URI`` is
  already an http(s) server);
* a Dask scheduler and ``--dask-workers`` workers (one per core by default),
  whose address the worker's flow runs get as ``BNPIPE_DASK_ADDRESS``.

``--backend postgres`` keeps Prefect and MLflow in PostgreSQL instead (a team's
server by ``BNPIPE_POSTGRES_URL``, or the stack's own: :mod:`bnpipe.ops.pgserver`),
and the MLflow server serves the artifacts (``mlflow-artifacts:/``); flow runs
then track to it over HTTP.

It writes nothing into the project folder: its own processes get its settings in
their environment, and a shell gets them from ``env`` (``eval "$(bnpipe stack
env)"``), so a ``bnpipe run`` or ``prefect`` command without them is not the
stack's. PIDs, logs and a ``stack.json`` with the URLs live in ``<state>/stack``. Ports: ``BNPIPE_PREFECT_PORT`` (4200), ``BNPIPE_MLFLOW_PORT``
(5000); start-up waits at most ``BNPIPE_STACK_TIMEOUT`` seconds (180) per server.

With authentication (``--auth``; the default of ``--backend postgres`` and of any
``--listen`` address beyond loopback) the MLflow server runs its basic-auth app,
the Prefect server checks an auth string, and Dask speaks mutual TLS, with
credentials from :mod:`bnpipe.ops.credentials`; ``env`` prints what a client needs.

No Prefect or MLflow import here: both are driven through their command-line
programs, found next to the running Python (the project's virtualenv), and the
servers are probed over HTTP. Nothing happens at import time.

The modules: :mod:`~bnpipe.ops.stack.config` (settings, ``stack.json``),
:mod:`~bnpipe.ops.stack.components`, :mod:`~bnpipe.ops.stack.environment`,
:mod:`~bnpipe.ops.stack.processes` (pid files, liveness, stopping),
:mod:`~bnpipe.ops.stack.starter`, one per service
(:mod:`~bnpipe.ops.stack.prefect_server`, :mod:`~bnpipe.ops.stack.mlflow_server`,
:mod:`~bnpipe.ops.stack.dask_cluster`, :mod:`~bnpipe.ops.stack.postgres`),
:mod:`~bnpipe.ops.stack.status` (``status``, ``env``) and
:mod:`~bnpipe.ops.stack.commands` (``up``, ``down``).
"""

from __future__ import annotations

from bnpipe.ops.stack.commands import down, up
from bnpipe.ops.stack.config import (
    HOST,
    StackConfig,
    StackError,
    hostport,
    is_loopback,
    load_config,
    resolve_auth,
)
from bnpipe.ops.stack.environment import HYGIENE, stack_env
from bnpipe.ops.stack.processes import port_free, read_pid, stop_component, stop_process
from bnpipe.ops.stack.status import env_lines, status

__all__ = [
    "HOST", "HYGIENE", "StackConfig", "StackError", "down", "env_lines", "hostport",
    "is_loopback", "load_config", "port_free", "read_pid", "resolve_auth", "stack_env", "status",
    "stop_component", "stop_process", "up",
]  # fmt: skip

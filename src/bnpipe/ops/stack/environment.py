"""The environment of everything the stack starts: offline hygiene, no proxy for
its own addresses, the URLs and folders the flows need, and none of a shell's
stack credentials (each process gets only its own side of them)."""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping

from bnpipe.ops.stack.config import StackConfig
from bnpipe.settings import TELEMETRY_OFF

WORKER_QUERY_SECONDS = "2"

# Offline hygiene and start-up patience, for everything the stack starts.
HYGIENE = {**TELEMETRY_OFF, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}


# never passed on from the shell that runs `bnpipe stack` (see stack_env)
INHERITED_SECRETS = (
    "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
    "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_KEY",
    "MLFLOW_AUTH_", "MLFLOW_FLASK_SERVER_SECRET_KEY", "DASK_DISTRIBUTED__COMM__",
)  # fmt: skip


def bypass_proxy(env: MutableMapping[str, str], hosts: Iterable[str] = ()) -> None:
    """Add loopback (and ``hosts``) to ``NO_PROXY``/``no_proxy``: never send the
    traffic to our own servers through a proxy."""
    local = ",".join(dict.fromkeys(("127.0.0.1", "localhost", *hosts)))
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(v for v in (env.get(key), local) if v)


def stack_env(cfg: StackConfig) -> dict[str, str]:
    """The environment of every process the stack starts (servers, CLI steps, worker, flows)."""
    # Credentials of a shell that ran `eval "$(bnpipe stack env)"` stay out: each
    # process gets only its own side of them (client_env, the servers' extra_env).
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_SECRETS)}
    env.update(HYGIENE)
    bypass_proxy(env, (cfg.host,))
    env.update(
        {
            "PREFECT_HOME": str(cfg.prefect_home),
            "PREFECT_API_URL": cfg.prefect_api_url,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{cfg.prefect_home / 'prefect.db'}",
            "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_SECONDS,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "BNPIPE_PROJECT_DIR": str(cfg.project_dir),
            "BNPIPE_STATE_DIR": str(cfg.state_dir),
            "MLFLOW_TRACKING_URI": cfg.flows_tracking_uri,
            "BNPIPE_MLFLOW_PORT": str(cfg.mlflow_port),  # flows link runs into this UI
        }
    )
    if cfg.dask_address:  # the worker's flow runs train on the stack's Dask cluster
        env["BNPIPE_DASK_ADDRESS"] = cfg.dask_address
    else:
        env.pop("BNPIPE_DASK_ADDRESS", None)
    if cfg.data_mirror:
        env["BNPIPE_DATA_MIRROR"] = cfg.data_mirror
    else:
        env.pop("BNPIPE_DATA_MIRROR", None)
    return env

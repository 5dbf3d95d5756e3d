"""What ``bnpipe stack status`` and ``bnpipe stack env`` print: the URLs, each
component's liveness and health, the deployments, and a client's settings."""

from __future__ import annotations

from bnpipe.ops.stack.components import (
    DASK_SCHEDULER,
    MLFLOW_SERVER,
    POSTGRES,
    PREFECT_SERVER,
    PREFECT_WORKER,
)
from bnpipe.ops.stack.config import (
    HOST,
    StackConfig,
    StackError,
    load_config,
    recorded,
    with_recorded_ports,
)
from bnpipe.ops.stack.dask_cluster import dask_worker_count
from bnpipe.ops.stack.postgres import pg_problem
from bnpipe.ops.stack.prefect_server import WORK_POOL, deployment_lines, pool_ready
from bnpipe.ops.stack.processes import healthy, read_pid, running
from bnpipe.settings import Settings


def status(settings: Settings) -> int:
    """Print URLs, PIDs and liveness; 0 when every component runs and answers."""
    cfg = with_recorded_ports(load_config(settings))
    alive = running(cfg)
    print_urls(cfg)
    health = {
        PREFECT_SERVER.name: f"{cfg.prefect_api_url}/health",
        MLFLOW_SERVER.name: f"{cfg.mlflow_url}/health",
    }
    ok = True
    for c in cfg.components:
        pid = alive[c.name]
        if pid is None:
            stale = read_pid(cfg.pid_file(c))
            note = f"stale pid {stale}" if stale else "no pid file"
            print(f"  {c.title:<15} not running ({note})")
            ok = False
            continue
        state = "alive"
        if c.name in health and not healthy(health[c.name], timeout=5.0):
            state, ok = "alive, not answering " + health[c.name], False
        if c is PREFECT_WORKER:
            state += f", pool {WORK_POOL} " + ("READY" if pool_ready(cfg) else "not ready")
        if c is POSTGRES and (problem := pg_problem(cfg)):
            state, ok = f"alive, {problem}", False
        if c is DASK_SCHEDULER:
            n = dask_worker_count(cfg)
            state += f", {cfg.dask_address}, {n} worker(s)" if n is not None else ", not answering"
            ok = ok and n is not None
        print(f"  {c.title:<15} pid {pid:<7} {state}   log {cfg.log_file(c.name)}")
    if cfg.postgres and not cfg.own_postgres:  # a team's server: no pid of ours
        problem = pg_problem(cfg)
        ok = ok and not problem
        print(f"  {'PostgreSQL':<15} {cfg.pg_masked()}   {problem or 'answering'}")
    if alive.get(PREFECT_SERVER.name):
        lines = deployment_lines(cfg)
        print("Deployments (schedule, triggers, last run):" if lines else "No deployments.")
        for line in lines:
            print("  " + line)
    print(
        "stack is up" if ok else "stack is not (fully) up: `bnpipe stack up` starts what is missing"
    )
    return 0 if ok else 1


def env_lines(settings: Settings) -> list[str]:
    """``export`` lines for a shell or a second host (the one place secrets are printed)."""
    import shlex

    cfg = with_recorded_ports(load_config(settings))
    if not recorded(cfg):
        raise StackError("the stack is not up: `bnpipe stack up` first")
    values = {"PREFECT_API_URL": cfg.prefect_api_url}
    if cfg.runs_mlflow:
        values["MLFLOW_TRACKING_URI"] = cfg.flows_tracking_uri
    if cfg.dask_address:
        values["BNPIPE_DASK_ADDRESS"] = cfg.dask_address
    values.update(cfg.client_env())
    lines = [
        f"# bnpipe stack ({cfg.backend}, auth {'on' if cfg.auth else 'off'}): "
        f"credentials from {cfg.credentials.home}"
        if cfg.auth
        else f"# bnpipe stack ({cfg.backend})"
    ]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    return lines


def print_urls(cfg: StackConfig) -> None:
    print(f"Prefect UI:  {cfg.prefect_url}   (API {cfg.prefect_api_url})")
    if cfg.dask_address:
        print(
            f"Dask:        {cfg.dask_address}   ({cfg.dask_workers} worker(s); "
            "the BNPIPE_DASK_ADDRESS of flow runs)"
        )
    if cfg.postgres:
        where = cfg.pg_masked()
        print(f"MLflow UI:   {cfg.mlflow_url}   (tracking URI for clients: {cfg.mlflow_url})")
        print(
            f"Backend:     PostgreSQL {where} (databases prefect, mlflow; "
            f"{'the stack' + chr(39) + 's own server' if cfg.own_postgres else 'BNPIPE_POSTGRES_URL'}); "
            f"artifacts served by MLflow (mlflow-artifacts:/, kept in {cfg.served_artifacts})"
        )
    elif cfg.runs_mlflow:
        print(f"MLflow UI:   {cfg.mlflow_url}   (store {cfg.tracking_uri})")
    else:
        print(f"MLflow:      {cfg.tracking_uri} (external; the stack starts no MLflow server)")
    if cfg.auth:
        print(
            f"Auth:        on (MLflow basic auth, Prefect auth string"
            f"{', Dask mutual TLS' if cfg.dask_workers else ''}); credentials in "
            f"{cfg.credentials.home}; `bnpipe stack env` prints the settings a client needs"
        )
    elif cfg.listen != HOST or cfg.postgres:
        print("Auth:        off")

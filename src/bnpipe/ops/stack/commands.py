"""``bnpipe stack up`` and ``bnpipe stack down``: start what is missing, in order
and all or nothing; stop what the stack started, by pid, in reverse."""

from __future__ import annotations

import time

from bnpipe.ops.stack.components import (
    DASK_SCHEDULER,
    DASK_WORKER,
    MLFLOW_SERVER,
    POSTGRES,
    PREFECT_SERVER,
    PREFECT_WORKER,
    STOP_ORDER,
    Component,
)
from bnpipe.ops.stack.config import (
    HOST,
    StackConfig,
    StackError,
    load_config,
    save_record,
    with_recorded_ports,
)
from bnpipe.ops.stack.dask_cluster import start_dask
from bnpipe.ops.stack.environment import stack_env
from bnpipe.ops.stack.mlflow_server import ensure_users, spawn_mlflow, wait_mlflow
from bnpipe.ops.stack.postgres import ensure_databases, start_own_postgres
from bnpipe.ops.stack.prefect_server import (
    deploy,
    remove_prefect_toml,
    start_server,
    start_worker,
)
from bnpipe.ops.stack.processes import (
    is_component,
    port_free,
    read_pid,
    running,
    stop_component,
    stop_process,
)
from bnpipe.ops.stack.starter import Starter, done, step
from bnpipe.ops.stack.status import print_urls
from bnpipe.settings import Settings

# The stack's settings reach its own processes through their environment and a
# shell through `stack env`; nothing in the project folder (a prefect.toml there
# would point every Prefect process started in it, any `bnpipe run`, at the stack).
CLIENT_HINT = (
    'Use it from a shell:  eval "$(.venv/bin/bnpipe stack env)"; '
    ".venv/bin/prefect deployment run 'bn-comparison/iris' --watch"
)


def up(
    settings: Settings,
    backend: str = "sqlite",
    dask_workers: int | None = None,
    auth: bool | None = None,
    listen: str = HOST,
) -> int:
    """Start whatever part of the stack is not running; 0 when all of it runs.
    ``backend``: ``sqlite`` (files) or ``postgres`` (see :mod:`bnpipe.ops.pgserver`);
    ``auth``: None for the backend's default (on for postgres, and always on
    beyond loopback); ``listen``: the address the services bind to."""
    fresh = load_config(settings, backend, dask_workers, auth, listen)  # refuses --no-auth early
    cfg = with_recorded_ports(fresh)
    alive = running(cfg)
    if any(alive.values()) and cfg.backend != backend:
        raise StackError(
            f"the stack is up on the {cfg.backend} backend: `bnpipe stack down` first, "
            f"then `bnpipe stack up --backend {backend}`"
        )
    if any(alive.values()) and (cfg.auth, cfg.listen) != (fresh.auth, fresh.listen):
        raise StackError(
            f"the stack is up with auth {'on' if cfg.auth else 'off'} on {cfg.listen}: "
            "`bnpipe stack down` first to change --auth or --listen"
        )
    wanted = cfg.components
    if all(alive[c.name] for c in wanted):
        print(f"stack already up (state {cfg.home}):")
        remove_prefect_toml(cfg)
        print_urls(cfg)
        print(CLIENT_HINT)
        return 0
    if not any(alive.values()):
        cfg = fresh  # nothing runs: settings decide
    if cfg.prefect_port == cfg.mlflow_port and cfg.runs_mlflow:
        raise StackError(
            f"BNPIPE_PREFECT_PORT and BNPIPE_MLFLOW_PORT are both {cfg.prefect_port}: choose two ports"
        )
    start = [c for c in wanted if not alive[c.name]]
    if PREFECT_SERVER in start and alive[PREFECT_WORKER.name]:
        start.append(PREFECT_WORKER)  # a worker that outlived its server restarts with it
    _check_ports(cfg, start)  # before anything changes
    if cfg.postgres and not cfg.own_postgres:  # a team's server: reachable, databases there
        ensure_databases(cfg, "Nothing was started.")
    if PREFECT_WORKER in start and alive[PREFECT_WORKER.name]:
        stop_process(alive[PREFECT_WORKER.name], second_sigterm=True)
    for d in (cfg.home, cfg.prefect_home, cfg.logs_dir):
        d.mkdir(parents=True, exist_ok=True)
    for c in start:  # forget stale pid files
        cfg.pid_file(c).unlink(missing_ok=True)
    remove_prefect_toml(cfg)  # one an earlier bnpipe wrote into the project folder

    starter = Starter(cfg, stack_env(cfg))
    began = time.perf_counter()
    print(f"bnpipe stack up: state {cfg.home}, logs {cfg.logs_dir}", flush=True)
    try:
        _start(cfg, starter, start)
    except BaseException:
        print(" failed", flush=True)
        starter.rollback()
        raise
    save_record(cfg)
    print(f"stack up in {time.perf_counter() - began:.1f} s")
    print_urls(cfg)
    print(CLIENT_HINT)
    return 0


def _check_ports(cfg: StackConfig, start: list[Component]) -> None:
    """Every server about to start finds its port free; else one line, nothing started."""
    ports = {PREFECT_SERVER: ("Prefect server", cfg.prefect_port, "BNPIPE_PREFECT_PORT"),
             MLFLOW_SERVER: ("MLflow server", cfg.mlflow_port, "BNPIPE_MLFLOW_PORT"),
             POSTGRES: ("PostgreSQL server", cfg.postgres_port, "BNPIPE_POSTGRES_PORT"),
             DASK_SCHEDULER: ("Dask scheduler", cfg.dask_port, "BNPIPE_DASK_PORT")}  # fmt: skip
    for c in start:
        if c in ports and not port_free(ports[c][1], cfg.host if c is not POSTGRES else HOST):
            title, port, key = ports[c]
            raise StackError(
                f"port {port} on {cfg.host} is already in use, so the {title} cannot start there; "
                f"stop what uses it or set {key} to a free port. Nothing was started."
            )


def _start(cfg: StackConfig, starter: Starter, start: list[Component]) -> None:
    """Start the components in ``start``, in order, each until it is ready."""
    if POSTGRES in start:
        start_own_postgres(cfg, starter)
    if cfg.auth:
        t = step(f"credentials in {cfg.credentials.home}")
        made = cfg.credentials.ensure(
            cfg.auth_database_uri, hosts=(cfg.host,), prefect_in_use=PREFECT_SERVER not in start
        )
        done(t, f"generated {', '.join(made)}" if made else "kept")
    clients = cfg.client_env()  # the worker's and `prefect deploy`'s credentials
    if DASK_SCHEDULER in start or DASK_WORKER in start:
        start_dask(cfg, starter, start)
    if MLFLOW_SERVER in start:
        spawn_mlflow(cfg, starter)  # boots while the Prefect side starts
    if PREFECT_SERVER in start:
        start_server(cfg, starter)
    if PREFECT_WORKER in start:
        start_worker(cfg, starter, clients)
    deploy(cfg, starter, clients)
    if MLFLOW_SERVER in start:
        wait_mlflow(cfg, starter)
    if cfg.auth and cfg.runs_mlflow:
        ensure_users(cfg)


def down(settings: Settings) -> int:
    """Stop every component this stack started (by PID); 0 also when nothing ran."""
    cfg = with_recorded_ports(load_config(settings))
    stopped = 0
    for c in STOP_ORDER:
        path = cfg.pid_file(c)
        pid = read_pid(path)
        if pid is None:
            path.unlink(missing_ok=True)
            continue
        if not is_component(pid, c):
            print(f"{c.title}: not running (stale pid {pid})")
            path.unlink(missing_ok=True)
            continue
        began = time.perf_counter()
        how = stop_component(pid, c)
        path.unlink(missing_ok=True)
        stopped += 1
        print(f"{c.title} (pid {pid}): {how} in {time.perf_counter() - began:.1f} s", flush=True)
    remove_prefect_toml(cfg)
    cfg.info_path.unlink(missing_ok=True)
    if not stopped:
        print("stack is not running")
    return 0

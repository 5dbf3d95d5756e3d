"""What the stack runs: its components (one pid file and log each), in start and stop order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    name: str  # file stem of its pid file and log
    title: str
    argv_names: tuple[str, ...]  # words of its command line that identify it (PID reuse guard)
    second_sigterm: bool = False  # a Prefect worker stops on the second SIGTERM
    postmaster: bool = False  # PostgreSQL: SIGINT to the postmaster alone (see stop_component)


PREFECT_SERVER = Component("prefect-server", "Prefect server", ("prefect", "server", "start"))
PREFECT_WORKER = Component(
    "prefect-worker", "Prefect worker", ("prefect", "worker", "start"), second_sigterm=True
)
MLFLOW_SERVER = Component("mlflow-server", "MLflow server", ("mlflow", "server"))
# the stack's own PostgreSQL (--backend postgres without BNPIPE_POSTGRES_URL)
POSTGRES = Component("postgres", "PostgreSQL", ("postgres",), postmaster=True)
DASK_SCHEDULER = Component("dask-scheduler", "Dask scheduler", ("dask", "scheduler"))
DASK_WORKER = Component("dask-worker", "Dask workers", ("dask", "worker"))  # one nanny per worker
COMPONENTS = (POSTGRES, DASK_SCHEDULER, DASK_WORKER, PREFECT_SERVER, PREFECT_WORKER, MLFLOW_SERVER)
# The worker stops first: it needs its server to report its flow runs' end; the
# database last, once nothing is connected (SIGTERM: its smart shutdown).
STOP_ORDER = (
    PREFECT_WORKER, DASK_WORKER, DASK_SCHEDULER, PREFECT_SERVER, MLFLOW_SERVER, POSTGRES,
)  # fmt: skip

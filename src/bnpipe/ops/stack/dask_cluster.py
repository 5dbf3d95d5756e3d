"""The stack's Dask cluster: a scheduler and its workers (mutual TLS with auth),
and how many workers it has."""

from __future__ import annotations

from bnpipe.ops.stack.components import DASK_SCHEDULER, DASK_WORKER, Component
from bnpipe.ops.stack.config import StackConfig
from bnpipe.ops.stack.processes import port_free
from bnpipe.ops.stack.starter import Starter, done, step


def start_dask(cfg: StackConfig, starter: Starter, start: list[Component]) -> None:
    """A scheduler on the listen address and ``dask_workers`` one-thread workers (one
    nanny process, ``--nworkers``); flows get its address as ``BNPIPE_DASK_ADDRESS``.
    With auth, both speak mutual TLS with certificates of the stack's CA only."""
    dask = cfg.exe("dask")
    tls = lambda role: ["--protocol", "tls", *cfg.credentials.dask_argv(role)] if cfg.auth else []  # noqa: E731
    if DASK_SCHEDULER in start:
        t = step(f"Dask scheduler on {cfg.dask_address}")
        starter.spawn(
            DASK_SCHEDULER,
            [dask, "scheduler", "--host", cfg.listen, "--port", str(cfg.dask_port),
             "--no-dashboard", *tls("scheduler")],
        )  # fmt: skip
        starter.wait_for(
            DASK_SCHEDULER, lambda: not port_free(cfg.dask_port, cfg.host), "listening"
        )
        done(t)
    t = step(f"{cfg.dask_workers} Dask worker(s), 1 thread each")
    worker_tls = tls("worker")[2:]  # a worker takes the scheduler's protocol from its address
    starter.spawn(
        DASK_WORKER,
        [dask, "worker", cfg.dask_address, "--nworkers", str(cfg.dask_workers),
         "--nthreads", "1", "--name", "bnpipe-stack", "--no-dashboard", *worker_tls],
    )  # fmt: skip
    starter.wait_for(
        DASK_WORKER, lambda: (dask_worker_count(cfg) or 0) >= cfg.dask_workers, "joining"
    )
    done(t)


def dask_worker_count(cfg: StackConfig) -> int | None:
    """Workers connected to the stack's scheduler (None: it does not answer)."""
    if not cfg.dask_address or port_free(cfg.dask_port, cfg.host):
        return None
    from distributed import Client

    try:
        security = cfg.credentials.dask_security() if cfg.auth else None
        with Client(cfg.dask_address, timeout=3, security=security) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])
    except Exception:  # noqa: BLE001 - not (yet) answering
        return None

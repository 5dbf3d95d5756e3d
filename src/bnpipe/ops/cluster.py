"""Where training runs: a Dask cluster, local by default, a user's when given.

* No address (``BNPIPE_DASK_ADDRESS`` unset, no ``--dask-address``): a
  ``LocalCluster`` of process workers on 127.0.0.1 for the run, one per two
  cores unless ``BNPIPE_DASK_WORKERS`` says otherwise, two threads each (a
  worker traces one job while another compiles or trains: a thread per core;
  each worker loads TensorFlow once, ~8 CPU-s, so on 2 cores one worker
  trained a run's 4 jobs ~2.5 s sooner end to end than two), no dashboard unless
  ``BNPIPE_DASK_DASHBOARD`` gives an address for it. It starts on a thread of
  its own, so its workers load TensorFlow while this process loads the rest.
  It speaks mutual TLS with a throwaway CA of the run (``Security.temporary()``):
  other users of the machine cannot submit work to it through loopback.
* An address (``tcp://HOST:PORT``, or ``tls://`` with Dask's TLS settings in
  the environment, as ``bnpipe stack env`` prints them): that scheduler's workers train. They need
  the project's virtualenv and nothing else: the client registers the plugin
  that preloads TensorFlow (:mod:`bnpipe.ops.dask_plugin`), jobs carry their data.

Faults are Dask's to handle where Dask handles them: a worker that dies
mid-job has its job run again on another worker (or on the worker its nanny
restarts), up to the scheduler's ``allowed-failures``. What Dask leaves to the
client is said here in one line: a scheduler that cannot be reached (within
``CONNECT_TIMEOUT`` seconds), or that has had no worker for
``BNPIPE_DASK_NO_WORKER_SECONDS`` (20 s) while a job waits.

Workers of the local cluster die with this process, also on SIGKILL: Dask's
worker processes hold a pipe from their parent and exit when it closes.

Nothing here imports Prefect or MLflow; ``distributed`` is imported when a
cluster opens, never at import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bnpipe.jobs import PROGRESS_TOPIC
from bnpipe.ops import interrupts

ADDRESS_ENV = "BNPIPE_DASK_ADDRESS"
WORKERS_ENV = "BNPIPE_DASK_WORKERS"
DASHBOARD_ENV = "BNPIPE_DASK_DASHBOARD"
NO_WORKER_ENV = "BNPIPE_DASK_NO_WORKER_SECONDS"
CONNECT_TIMEOUT = 5.0  # seconds to reach a given scheduler
THREADS_PER_WORKER = 2


class ClusterError(RuntimeError):
    """Training could not run on the Dask cluster; the message names the scheduler."""


def _workers_from_env(env=os.environ) -> int:
    raw = env.get(WORKERS_ENV, "").strip()
    if not raw:
        return max(1, (os.cpu_count() or 1) // THREADS_PER_WORKER)
    if not raw.isdigit() or int(raw) < 1:
        raise ClusterError(f"{WORKERS_ENV} must be a positive whole number, got {raw!r}")
    return int(raw)


class TrainingCluster:
    """A Dask client on the run's cluster, opened in the background.

    A flow run opens one (``with TrainingCluster() as dask:``) and passes it to
    the stages that train or score on a worker. A process that runs flows and
    wants the workers warm before the flow starts (``bnpipe run``, the tests'
    harness) opens one first and :meth:`exports` its scheduler to them."""

    def __init__(self, address: str | None = None, workers: int | None = None):
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.workers = workers if workers is not None else _workers_from_env()
        self._client = None
        self._cluster = None
        self._error: BaseException | None = None
        self._listeners: dict[str, queue.Queue] = {}
        self._pending: set = set()  # futures submitted and not yet done
        self._closed = False
        self._thread = threading.Thread(target=self._open, name="bnpipe-dask-open", daemon=True)
        self._thread.start()

    def __enter__(self) -> TrainingCluster:
        if self.address:  # a scheduler that cannot be reached fails before any run opens
            self.client()
        return self

    def __exit__(self, *exc) -> None:
        if exc[1] is not None:  # a stop or a failure: the jobs still running stop too
            self.cancel_pending()
        self.close()

    # ------------------------------------------------------------------ opening

    def describe(self) -> str:
        if self.address:
            return f"the Dask scheduler at {self.address}"
        return f"a local Dask cluster ({self.workers} worker(s) x {THREADS_PER_WORKER} threads)"

    def _open(self) -> None:
        try:
            from distributed import Client

            from bnpipe.ops.dask_plugin import PreloadTensorFlow

            if self.address:
                try:
                    # Security(): Dask's TLS settings (a stack's CA, or a local cluster's exported)
                    client = Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    raise ClusterError(
                        f"cannot reach the Dask scheduler at {self.address} "
                        f"within {CONNECT_TIMEOUT:g} s ({_reason(exc)}); start one with "
                        f"`dask scheduler` and workers with `dask worker {self.address}`, "
                        f"or unset {ADDRESS_ENV} to train on a local cluster"
                    ) from None
                own = False
            else:
                self._cluster = _local_cluster(self.workers)
                client = Client(self._cluster, set_as_default=False)
                own = True
            client.register_plugin(PreloadTensorFlow(own_workers=own))
            client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)
            self._client = client
        except BaseException as exc:  # noqa: BLE001 - raised where the client is asked for
            self._error = exc
        if self._closed:  # closed while opening
            self._shutdown()

    def client(self):
        """The connected client (waits for the cluster to open); ClusterError if it did not."""
        self._thread.join()
        if self._error is not None:
            if isinstance(self._error, ClusterError):
                raise ClusterError(str(self._error))
            raise ClusterError(
                f"could not start {self.describe()}: {type(self._error).__name__}: {self._error}"
            ) from self._error
        if self._client is None:
            raise ClusterError(f"{self.describe()} is closed")
        return self._client

    # ------------------------------------------------------------------ running

    def _on_progress(self, event) -> None:
        _, payload = event
        listener = self._listeners.get(payload.get("job", ""))
        if listener is not None:
            listener.put(payload.get("message", ""))

    def run(
        self,
        fn: Callable[..., Any],
        *args,
        key: str,
        job: str | None = None,
        progress: Callable[[str], None] | None = None,
    ):
        """``fn(*args)`` on a worker, waited for here; ``progress`` gets the job's
        progress lines (events of topic ``PROGRESS_TOPIC`` naming ``job``)."""
        client = self.client()
        inbox: queue.Queue = queue.Queue()
        if job is not None:
            self._listeners[job] = inbox
        future = client.submit(fn, *args, key=f"{key}-{uuid.uuid4().hex[:8]}", pure=False)
        self._pending.add(future)
        try:
            return self._wait(client, future, key, inbox, progress)
        finally:
            self._pending.discard(future)
            if job is not None:
                self._listeners.pop(job, None)
            if not future.done():
                with contextlib.suppress(Exception):
                    future.cancel()

    def cancel_pending(self) -> None:
        """Cancel every job still running (a run that stops: Ctrl-C, a failure):
        the threads waiting for them return at once, the workers stop them."""
        pending, self._pending = list(self._pending), set()
        if pending and self._client is not None:
            with contextlib.suppress(Exception):
                self._client.cancel(pending, force=True)

    def _wait(self, client, future, key: str, inbox: queue.Queue, progress):
        from distributed.scheduler import KilledWorker

        grace = float(os.environ.get(NO_WORKER_ENV) or 20)
        no_worker_since: float | None = None
        finished = threading.Event()
        future.add_done_callback(lambda _: finished.set())
        while True:
            finished.wait(0.5)
            interrupts.check()  # the run stops (a signal, another thread's stop): so does the wait
            while progress is not None and not inbox.empty():
                progress(inbox.get_nowait())
            if future.cancelled():
                raise ClusterError(f"{key} was cancelled on {self.where()}")
            if future.done():
                try:
                    return future.result()  # KilledWorker: its workers died too often
                except KilledWorker as exc:
                    raise ClusterError(
                        f"{key}: every Dask worker that took it died ({exc}); "
                        f"see the workers' logs on {self.where()}"
                    ) from None
            if client.status not in ("running", "connecting"):
                raise ClusterError(f"lost the connection to {self.where()} while running {key}")
            if client.scheduler_info(n_workers=-1).get("workers"):
                no_worker_since = None
            elif no_worker_since is None:
                no_worker_since = time.monotonic()
            elif time.monotonic() - no_worker_since > grace:
                raise ClusterError(
                    f"no Dask worker at {self.where()} for {grace:g} s while {key} waits; "
                    f"start one with `dask worker {self.where()}`"
                )

    @contextlib.contextmanager
    def exported(self) -> Iterator[str]:
        """For the block, flows started in this process train on this cluster:
        ``BNPIPE_DASK_ADDRESS`` names its scheduler, and Dask's TLS settings carry
        the local cluster's throwaway keys (a user's scheduler brings its own); not
        "require encryption", which would refuse every other, plain-TCP scheduler
        this process talks to while the block lasts.
        Yields the address. Waits for the cluster to open."""
        import dask

        client = self.client()
        address = client.scheduler.address
        saved = os.environ.get(ADDRESS_ENV)
        os.environ[ADDRESS_ENV] = address
        tls = {}
        if self._cluster is not None and address.startswith("tls://"):
            sec = self._cluster.security
            tls = {
                "distributed.comm.tls.ca-file": sec.tls_ca_file,
                "distributed.comm.tls.client.cert": sec.tls_client_cert,
                "distributed.comm.tls.client.key": sec.tls_client_key,
            }
        try:
            with dask.config.set(tls):
                yield address
        finally:
            if saved is None:
                os.environ.pop(ADDRESS_ENV, None)
            else:
                os.environ[ADDRESS_ENV] = saved

    def where(self) -> str:
        if self.address:
            return self.address
        return self._client.scheduler.address if self._client is not None else "(local)"

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        self._closed = True
        if not self._thread.is_alive():
            self._shutdown()

    def _shutdown(self) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        # Closing logs "stream closed" noise from connections torn down on purpose.
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=10)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=20)
        finally:
            quiet.setLevel(level)


def _local_cluster(workers: int):
    from distributed import LocalCluster
    from distributed.security import Security

    dashboard = os.environ.get(DASHBOARD_ENV) or None
    return LocalCluster(
        # Mutual TLS with a throwaway CA of this process: another user of the machine
        # reaches the scheduler on loopback, but cannot submit work without its keys.
        security=Security.temporary(),
        protocol="tls://",
        n_workers=workers,
        threads_per_worker=THREADS_PER_WORKER,
        processes=True,
        host="127.0.0.1",
        dashboard_address=dashboard,
        worker_dashboard_address=None,
        # Without a dashboard the scheduler still serves /health and metrics: on a
        # free port, not on 8787 (taken by any other cluster: a warning each run).
        scheduler_kwargs=None if dashboard else {"dashboard_address": "127.0.0.1:0"},
        # CRITICAL: a worker that outlives its scheduler by a moment when the run is
        # stopped (Ctrl-C, SIGTERM) logs a heartbeat traceback at ERROR into the
        # user's terminal; what a job's failure means reaches the flow as ClusterError.
        silence_logs=logging.CRITICAL,
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

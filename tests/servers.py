"""One real Prefect server and one real Dask cluster for a whole test session.

``bnpipe run`` and ``bnpipe sweep`` start a temporary Prefect server and a local
Dask cluster of their own when ``PREFECT_API_URL`` and ``BNPIPE_DASK_ADDRESS``
are unset: the server's boot and a worker loading TensorFlow, ~20 CPU-s a
process on a 2-core machine. Tests that are not about that start-up point
their subprocesses at these shared ones instead (:func:`shared_env`); the few
that check start-up or teardown keep their own.

Both listen on 127.0.0.1, run in sessions of their own (a test's signal to its
process group never reaches them) and are stopped by process group. Each process
is tied to the pytest process (:mod:`bnpipe.ops.lifeline`): it goes with it even
when pytest is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.httpfiles import dead_port

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
BOOT_TIMEOUT = 300.0  # seconds: 2 shared cores, other sessions' tests beside these
STOP_GRACE = 10.0
DEATH_TIMEOUT = 60  # seconds a Dask worker outlives its scheduler (should it ever)


def _start(argv: list, env: dict[str, str], log: Path, **popen) -> subprocess.Popen:
    """``argv`` in a session of its own, tied to this process (:mod:`bnpipe.ops.lifeline`:
    its supervisor stops the group when this process ends, however it ends)."""
    from bnpipe.ops import lifeline

    supervised, read_fd, write_fd = lifeline.tied([str(a) for a in argv])
    try:
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                supervised, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=(read_fd,), **popen,
            )  # fmt: skip
    except BaseException:
        os.close(write_fd)
        raise
    finally:
        os.close(read_fd)
    proc.lifeline = write_fd  # closed by stop_group
    return proc


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group ``proc`` leads, SIGKILL to what is left after
    ``STOP_GRACE`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None and not _group_alive(proc.pid):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and (proc.poll() is None or _group_alive(proc.pid)):
            time.sleep(0.1)
    fd, proc.lifeline = getattr(proc, "lifeline", None), None
    if fd is not None:
        os.close(fd)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies of the group count as gone
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- Prefect


def api_call(method: str, url: str, body: object = None):
    """A JSON call to a loopback API (no proxy); its decoded answer, or None."""
    import json
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as answer:
        text = answer.read()
    return json.loads(text) if text else None


class SharedPrefect:
    """``prefect server start --no-ui`` on a free loopback port, on its own
    ``PREFECT_HOME``, configured like the temporary server ``bnpipe run`` starts
    (offline, no scheduler or other background services). ``start()`` returns at
    once (it boots while the test prepares); ``api_url`` waits until it answers."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.home = self.root / "home"
        self.log = self.root / "prefect-server.log"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._booting: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stopping = False

    @property
    def api_url(self) -> str:
        """What ``PREFECT_API_URL`` is set to (once the server answers)."""
        self.wait_ready()
        return self._api

    @property
    def _api(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    def start(self) -> SharedPrefect:
        self._booting = threading.Thread(target=self._boot, name="shared-prefect-boot", daemon=True)
        self._booting.start()
        return self

    def wait_ready(self) -> None:
        assert self._booting is not None, "start() it first"
        self._booting.join()
        if self._error is not None:
            raise RuntimeError(str(self._error))

    def _boot(self) -> None:
        try:
            self._spawn_until_healthy()
        except BaseException as exc:  # noqa: BLE001 - raised by wait_ready
            self._error = exc

    def _spawn_until_healthy(self) -> None:
        from bnpipe.ops.tempserver import server_env

        self.home.mkdir(parents=True, exist_ok=True)
        env = server_env(dict(os.environ))
        env["PREFECT_HOME"] = str(self.home)
        deadline = time.monotonic() + BOOT_TIMEOUT
        for _attempt in range(3):  # a port taken between dead_port() and bind: another
            self.port = dead_port()
            argv = [str(BIN / "prefect"), "server", "start", "--host", HOST,
                    "--port", str(self.port), "--no-ui"]  # fmt: skip
            self.proc = _start(argv, env, self.log)
            while self.proc.poll() is None:
                if self.healthy():
                    return
                if self._stopping:
                    raise RuntimeError("stopped before it was up")
                if time.monotonic() > deadline:
                    self._stop_process()
                    raise RuntimeError(f"Prefect server not up in {BOOT_TIMEOUT:.0f} s:\n"
                                       + _tail(self.log))  # fmt: skip
                time.sleep(0.2)
            self._stop_process()
        raise RuntimeError(f"Prefect server exited before it was up:\n{_tail(self.log)}")

    def healthy(self) -> bool:
        from bnpipe.probe import http_get

        answer = http_get(f"{self._api}/health", timeout=2.0)
        return answer is not None and answer[0] == 200

    def release_leaked_slots(self) -> list[str]:
        """Between tests: delete the global concurrency limits (bnpipe's registry
        locks, ``bnpipe-registry-<dataset>``) that still hold a slot: a run killed
        while it held one would make the next test's run of that dataset wait for
        its lease to expire. bnpipe creates a limit again when it is missing.
        Returns their names."""
        found = api_call("POST", f"{self.api_url}/v2/concurrency_limits/filter", {})
        held = [limit["name"] for limit in found if limit.get("active_slots")]
        for name in held:
            api_call("DELETE", f"{self.api_url}/v2/concurrency_limits/{name}")
        return held

    def stop(self) -> None:
        self._stopping = True
        if self._booting is not None:
            self._booting.join(timeout=BOOT_TIMEOUT)
        self._stop_process()

    def _stop_process(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)


# --------------------------------------------------------------------------- Dask


class SharedDask:
    """``dask scheduler`` and one ``dask worker`` (a nanny and its worker process,
    ``THREADS`` threads) on loopback TCP. The worker inherits
    ``BNPIPE_XLA_CACHE_DIR`` and ``TF_CPP_MIN_LOG_LEVEL`` as the tests set them."""

    THREADS = 4

    def __init__(self, root: Path):
        self.root = Path(root)
        self._address = ""
        self._ready = False
        self.scheduler: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.restarts: list[str] = []  # why the worker was restarted, in order
        self._client = None
        self._booting: threading.Thread | None = None
        self._error: BaseException | None = None
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for key in ("BNPIPE_DASK_ADDRESS", "PREFECT_API_URL"):
            self.env.pop(key, None)
        for key, default in (("TF_CPP_MIN_LOG_LEVEL", "3"), ("BNPIPE_XLA_CACHE_DIR", None)):
            if os.environ.get(key, default) is not None:
                self.env[key] = os.environ.get(key, default)

    @property
    def address(self) -> str:
        """What ``BNPIPE_DASK_ADDRESS`` is set to (once the worker has joined)."""
        if not self._ready:
            self._booting.join()
            if self._error is not None:
                raise RuntimeError(str(self._error))
            self._ready = True
        return self._address

    def start(self) -> SharedDask:
        """Start the scheduler and the worker; ``address`` waits for them. The worker
        starts loading TensorFlow as soon as it has joined: the plugin bnpipe's
        clients register (idempotent: theirs is then a no-op), registered here while
        the test prepares (and the Prefect server boots on the other core)."""
        self.root.mkdir(parents=True, exist_ok=True)
        port = dead_port()
        self._address = f"tcp://{HOST}:{port}"
        self.scheduler = _start(
            [BIN / "dask", "scheduler", "--host", HOST, "--port", port, "--no-dashboard",
             "--dashboard-address", f"{HOST}:0"],  # its HTTP server: not on :8787
            self.env, self.root / "scheduler.log", cwd=self.root,
        )  # fmt: skip
        self._start_worker()
        self._booting = threading.Thread(target=self._boot, name="shared-dask-boot", daemon=True)
        self._booting.start()
        return self

    def _boot(self) -> None:
        try:
            from bnpipe.ops.dask_plugin import PreloadTensorFlow

            self.wait_for_worker()
            self.client().register_plugin(PreloadTensorFlow(own_workers=False))
        except BaseException as exc:  # noqa: BLE001 - raised where the address is asked for
            self._error = exc

    def _start_worker(self) -> None:
        self.worker = _start(
            [BIN / "dask", "worker", self._address, "--nworkers", 1, "--nthreads", self.THREADS,
             "--no-dashboard", "--host", HOST, "--name", "shared",
             "--death-timeout", DEATH_TIMEOUT, "--local-directory", self.root / "worker"],
            self.env, self.root / "worker.log", cwd=self.root,
        )  # fmt: skip

    def client(self):
        """A client of this process (for the checks below), connected on first use."""
        from distributed import Client

        if self._client is None:
            deadline = time.monotonic() + BOOT_TIMEOUT
            while self._client is None:
                try:
                    self._client = Client(self._address, timeout=10, set_as_default=False)
                except OSError:
                    if self.scheduler.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"Dask scheduler {self._address} not up:\n"
                            + _tail(self.root / "scheduler.log")
                        ) from None
                    time.sleep(0.5)
        return self._client

    def wait_for_worker(self) -> None:
        try:
            self.client().wait_for_workers(1, timeout=BOOT_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(
                f"no Dask worker joined {self._address}:\n" + _tail(self.root / "worker.log")
            ) from None

    def state(self) -> tuple[int, list[str]]:
        """(workers, keys running on them)."""
        assert self.address  # booted (the boot thread made the client)
        client = self.client()
        workers = client.scheduler_info(n_workers=-1)["workers"]
        if not workers:
            return 0, []

        def running_keys(dask_worker) -> list[str]:  # defined here: pickled by value
            # the keys occupying a thread, cancelled ones included (a task whose client
            # went away runs on until it returns: Dask cannot stop a thread)
            return sorted(str(ts.key) for ts in dask_worker.state.all_running_tasks)

        running = client.run(running_keys, on_error="return")
        keys = []
        for found in running.values():
            keys += found if isinstance(found, list) else [f"(no answer: {found!r})"]
        return len(workers), keys

    def ensure_usable(self, drain: float = 5.0) -> None:
        """Between tests: one worker, idle. Jobs a killed run left behind are given
        ``drain`` seconds to return; then the worker is restarted (a fresh process:
        TensorFlow is loaded again, its compiled loops come from the XLA cache)."""
        deadline = time.monotonic() + drain
        while True:
            workers, running = self.state()
            if workers == 1 and not running:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.restart(f"{workers} worker(s), still running {running}")

    def restart(self, why: str) -> None:
        self.restarts.append(why)
        try:
            self.client().restart(timeout=120, wait_for_workers=True)
        except Exception:  # noqa: BLE001 - a nanny that does not answer: a new worker
            if self.worker is not None:
                stop_group(self.worker)
            self._start_worker()
        self.wait_for_worker()
        workers, running = self.state()
        assert (workers, running) == (1, []), f"shared Dask worker not usable: {why}"

    def stop(self) -> None:
        if self._booting is not None:
            self._booting.join(timeout=BOOT_TIMEOUT)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close(timeout=10)
            self._client = None
        for proc in (self.worker, self.scheduler):
            if proc is not None:
                stop_group(proc)


def ready_for_a_test(prefect: SharedPrefect, dask: SharedDask) -> tuple[SharedPrefect, SharedDask]:
    """Both as a test must find them: the server answering with no concurrency slot
    held, the worker idle."""
    prefect.wait_ready()
    if not prefect.healthy():
        raise RuntimeError(f"the shared Prefect server stopped answering; its log: {prefect.log}")
    prefect.release_leaked_slots()
    dask.ensure_usable()
    return prefect, dask


def shared_env(env: dict[str, str], prefect: SharedPrefect, dask: SharedDask) -> dict[str, str]:
    """``env`` for a ``bnpipe`` subprocess that uses the shared server and cluster:
    no temporary Prefect server, no local Dask cluster of its own."""
    return {**env, "PREFECT_API_URL": prefect.api_url, "BNPIPE_DASK_ADDRESS": dask.address}

"""A temporary Prefect server for one ``bnpipe run`` when no Prefect API is configured.

Prefect's own ephemeral mode starts such a server when the first flow call
needs the API: the run then waits for it to boot (6-10 s on 2 cores), and the
server sits in the caller's process group, so a Ctrl-C typed in the terminal
kills it too and the flow run cannot report its end. ``bnpipe run`` starts the
server itself instead:

- first thing, in the background, so it boots on the other core while this
  process imports MLflow and TensorFlow (the boot leaves the critical path);
- in a process group of its own: a terminal's Ctrl-C reaches bnpipe only,
  which ends its MLflow runs KILLED and lets the flow run report its end to a
  live API before the server is stopped (the same session, though: Linux's
  autogroup scheduler weighs sessions, not processes, against each other, and
  the server is to run at a lower priority than the flow process while both
  start, see ``NICENESS``);
- boots serialised per Prefect home by a file lock, so two runs starting on a
  fresh Prefect database do not race its migrations.

It is ``prefect server start --no-ui`` on a free loopback port, on the
Prefect database in ``PREFECT_HOME``, with the services Prefect's ephemeral
mode does not run switched off (scheduler, late runs, foreman, ...: nothing
schedules or reaps runs behind a one-off run's back). Its output goes to
``<state>/logs/prefect-temporary-server.log``. Nothing here imports Prefect.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bnpipe.locks import LockTimeout, file_lock
from bnpipe.ops import lifeline
from bnpipe.ops.stack.config import HOST
from bnpipe.ops.stack.environment import HYGIENE, bypass_proxy
from bnpipe.ops.stack.processes import open_log, stop_process
from bnpipe.probe import http_get

LOG_NAME = "prefect-temporary-server.log"
NICENESS = 5  # below the flow process while both start: its chain is the one everything waits for
DEFAULT_TIMEOUT = 90.0  # PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, as Prefect's own
# Services the ephemeral server does not run either (prefect.server.services.base).
SERVICES_OFF = (
    "SCHEDULER",
    "LATE_RUNS",
    "FOREMAN",
    "CANCELLATION_CLEANUP",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "CLEANUP_RECONCILER",
)


class ServerError(RuntimeError):
    """The temporary Prefect server did not come up."""


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_env(base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(HYGIENE)
    env.pop("PREFECT_API_URL", None)  # the server itself needs no API to talk to
    bypass_proxy(env)
    for name in SERVICES_OFF:
        env[f"PREFECT_SERVER_SERVICES_{name}_ENABLED"] = "false"
    return env


def _load() -> str:
    """The 1-minute load average with the number of CPUs, e.g. ``3.9 on 2 CPUs``."""
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    except OSError:
        return "unknown"


def last_line(path: Path) -> str:
    """The log's last line, e.g. the exception a crashed server ended with (one line
    of an error message: the whole traceback stays in the log)."""
    try:
        text = path.read_text(errors="replace").rsplit("\n===== ", 1)[-1]  # this start's part
        lines = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]
    except OSError:
        return "no log"
    if not lines:
        return "its log is empty"
    raised = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]  # what a traceback ended with
    return f"{'log: ' if raised else 'last log line: '}{(raised or lines)[-1][:200]}"


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b.*:")


class TemporaryServer:
    """``start()`` returns at once; ``wait_ready()`` blocks until /api/health answers."""

    def __init__(self, prefect_home: Path, log_dir: Path, *, timeout: float | None = None):
        self.prefect_home = Path(prefect_home)
        self.log_path = Path(log_dir) / LOG_NAME
        if timeout is None:
            raw = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
            try:
                timeout = float(raw) if raw else DEFAULT_TIMEOUT
            except ValueError:
                timeout = DEFAULT_TIMEOUT
        self.timeout = timeout
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._error: BaseException | None = None
        self._booting: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lifeline: int | None = None  # write end of the pipe the server's supervisor reads

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    def start(self) -> TemporaryServer:
        self._booting = threading.Thread(target=self._boot, name="prefect-server-boot", daemon=True)
        self._booting.start()
        return self

    def wait_ready(self) -> str:
        """The API URL once the server answers; ServerError if it does not."""
        if self._booting is None:
            raise ServerError("the temporary Prefect server was not started")
        self._booting.join()
        if self._error is not None:
            raise self._error
        return self.api_url

    def stop(self) -> None:
        self._stopped.set()
        if self._booting is not None:
            self._booting.join(timeout=self.timeout)
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc.pid, grace=5.0)
        if self.proc is not None:
            self.proc.wait()
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None

    # ------------------------------------------------------------------ the boot thread

    def _boot(self) -> None:
        try:
            self.prefect_home.mkdir(parents=True, exist_ok=True)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            lock = self.prefect_home / ".bnpipe-server-boot.lock"
            try:  # one boot (and migration) at a time
                with file_lock(lock, stop=self._stopped):
                    self._spawn_until_healthy()
            except LockTimeout:  # stopped while another boot held the lock
                raise ServerError("stopped before it was ready") from None
        except BaseException as exc:  # reported by wait_ready
            self._error = exc if isinstance(exc, ServerError) else ServerError(str(exc))

    def _spawn_until_healthy(self) -> None:
        deadline = time.monotonic() + self.timeout
        for _attempt in range(3):  # a port taken between free_port() and bind: try another
            if self._stopped.is_set():
                raise ServerError("stopped before it was ready")
            self.port = free_port()
            self.proc = self._spawn()
            while True:
                answer = http_get(f"{self.api_url}/health", timeout=2.0)
                if answer is not None and answer[0] == 200:
                    return
                if self.proc.poll() is not None:
                    break  # exited: try again on another port
                if self._stopped.is_set():
                    stop_process(self.proc.pid, grace=5.0)
                    raise ServerError("stopped before it was ready")
                if time.monotonic() > deadline:
                    stop_process(self.proc.pid, grace=5.0)
                    raise ServerError(
                        f"the temporary Prefect server did not answer within {self.timeout:.0f} s "
                        f"(load average {_load()}); on a busy machine raise "
                        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start a lasting "
                        f"server with `bnpipe stack up`; its log: {self.log_path}"
                    )
                time.sleep(0.1)
        raise ServerError(
            f"the temporary Prefect server exited (code {self.proc.returncode}) before it was "
            f"ready ({last_line(self.log_path)}); its log: {self.log_path}"
        )

    def _spawn(self) -> subprocess.Popen:
        prefect = str(Path(sys.executable).parent / "prefect")
        argv = [prefect, "server", "start", "--host", HOST, "--port", str(self.port), "--no-ui"]
        env = server_env(dict(os.environ))
        env["PREFECT_HOME"] = str(self.prefect_home)
        with open_log(self.log_path, argv) as fh:
            # Tied to this process: stopped with it, also when it is SIGKILLed.
            if self._lifeline is not None:  # an earlier attempt's (that server exited)
                os.close(self._lifeline)
            supervised, read_fd, self._lifeline = lifeline.tied(argv)
            try:
                proc = subprocess.Popen(
                    supervised, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                    stderr=subprocess.STDOUT, process_group=0, close_fds=True, pass_fds=(read_fd,),
                )  # fmt: skip
            finally:
                os.close(read_fd)
        with contextlib.suppress(OSError):  # see NICENESS
            os.setpriority(os.PRIO_PROCESS, proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)
        return proc

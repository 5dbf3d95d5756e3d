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

It writes ``<project>/prefect.toml`` (``[api] url``) so that ``prefect ...``
commands run in the project folder reach this server with no environment set;
``down`` removes it again. PIDs, logs and a ``stack.json`` with the URLs live in
``<state>/stack``. Ports: ``BNPIPE_PREFECT_PORT`` (4200), ``BNPIPE_MLFLOW_PORT``
(5000); start-up waits at most ``BNPIPE_STACK_TIMEOUT`` seconds (180) per server.

With authentication (``--auth``; the default of ``--backend postgres`` and of any
``--listen`` address beyond loopback) the MLflow server runs its basic-auth app,
the Prefect server checks an auth string, and Dask speaks mutual TLS, with
credentials from :mod:`bnpipe.ops.credentials`; ``env`` prints what a client needs.

No Prefect or MLflow import here: both are driven through their command-line
programs, found next to the running Python (the project's virtualenv), and the
servers are probed over HTTP. Nothing happens at import time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from bnpipe.ops import pgserver
from bnpipe.ops.credentials import MLFLOW_READER, MLFLOW_USER, Credentials
from bnpipe.probe import http_get
from bnpipe.processes import is_alive, proc_stat
from bnpipe.settings import Settings

HOST = "127.0.0.1"
WILDCARDS = ("0.0.0.0", "::")
WORK_POOL = "bnpipe-process"
WORKER_NAME = "bnpipe-worker"
DEFAULT_PREFECT_PORT = 4200
DEFAULT_MLFLOW_PORT = 5000
DEFAULT_POSTGRES_PORT = 5433
DEFAULT_DASK_PORT = 8786
DEFAULT_TIMEOUT = 180.0
WORKER_QUERY_SECONDS = "2"
STOP_GRACE_SECONDS = 15.0
TOML_MARKER = "# Written by `bnpipe stack up`"

# Offline hygiene and start-up patience, for everything the stack starts.
HYGIENE = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "GX_ANALYTICS_ENABLED": "false",
}


# never passed on from the shell that runs `bnpipe stack` (see stack_env)
INHERITED_SECRETS = (
    "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
    "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_KEY",
    "MLFLOW_AUTH_", "MLFLOW_FLASK_SERVER_SECRET_KEY", "DASK_DISTRIBUTED__COMM__",
)  # fmt: skip


class StackError(RuntimeError):
    """The stack cannot be started (port taken, a server that does not come up, ...)."""


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
BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class StackConfig:
    project_dir: Path
    state_dir: Path
    prefect_port: int
    mlflow_port: int
    tracking_uri: str
    artifacts_uri: str | None
    data_mirror: str | None
    bin_dir: Path
    timeout: float
    backend: str = "sqlite"  # or "postgres" (BACKENDS)
    postgres_url: str | None = None  # BNPIPE_POSTGRES_URL: a team's server; None: the stack's own
    postgres_port: int = DEFAULT_POSTGRES_PORT
    dask_workers: int = 0  # Dask workers the stack runs (0: none; flows start their own)
    dask_port: int = DEFAULT_DASK_PORT
    auth: bool = False  # MLflow basic auth, the Prefect auth string, Dask mutual TLS
    listen: str = HOST  # the address the services bind to (--listen)

    @property
    def host(self) -> str:
        """Where this host's clients reach the services (loopback for a wildcard)."""
        return HOST if self.listen in WILDCARDS else self.listen

    @property
    def dask_address(self) -> str | None:
        if not self.dask_workers:
            return None
        return f"{'tls' if self.auth else 'tcp'}://{self.host}:{self.dask_port}"

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.home / "credentials")

    @property
    def auth_database_uri(self) -> str:
        """MLflow's user store: with the stack's data, never the server's folder."""
        if self.postgres:
            return self.pg().url("mlflow_auth", "psycopg2")
        return f"sqlite:///{self.home / 'mlflow-auth.db'}"

    def prefect_headers(self) -> dict[str, str]:
        if not self.auth:
            return {}
        import base64

        token = base64.b64encode(self.credentials.prefect_auth_string.encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def client_env(self) -> dict[str, str]:
        """What a client of the stack needs besides its URLs: the credentials (in
        the environment of the worker, its flow runs and ``prefect deploy``; never
        in the servers', the Dask workers' or on a command line)."""
        if not self.auth:
            return {}
        creds = self.credentials
        return {
            "PREFECT_API_AUTH_STRING": creds.prefect_auth_string,
            **(creds.mlflow_client_env(MLFLOW_USER) if self.runs_mlflow else {}),
            **(creds.dask_client_env() if self.dask_workers else {}),
        }

    @property
    def home(self) -> Path:
        return self.state_dir / "stack"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def info_path(self) -> Path:
        return self.home / "stack.json"

    @property
    def prefect_toml(self) -> Path:
        return self.project_dir / "prefect.toml"

    @property
    def prefect_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_url}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def runs_mlflow(self) -> bool:
        """An http(s) tracking URI is someone else's server: the stack starts none
        (on SQLite; the PostgreSQL stack always serves its own)."""
        return self.postgres or not self.tracking_uri.startswith(("http://", "https://"))

    @property
    def postgres(self) -> bool:
        return self.backend == "postgres"

    @property
    def own_postgres(self) -> pgserver.OwnServer | None:
        """The stack's own PostgreSQL server, when it runs one."""
        if self.postgres and not self.postgres_url:
            return pgserver.OwnServer(self.home / "postgres", self.postgres_port)
        return None

    def pg(self) -> pgserver.PgUrl:
        """Where the databases are (with the password: never print it, see ``masked``)."""
        own = self.own_postgres
        return own.pg_url() if own else pgserver.PgUrl.parse(self.postgres_url or "")

    @property
    def flows_tracking_uri(self) -> str:
        """What the worker's flow runs log to: the MLflow server over HTTP on
        PostgreSQL (artifacts go through it too) or with authentication on (so
        that the server checks them), else the store itself on SQLite."""
        if self.runs_mlflow and (self.postgres or self.auth):
            return self.mlflow_url
        return self.tracking_uri

    @property
    def served_artifacts(self) -> Path:
        """Where the MLflow server keeps the artifacts it serves (PostgreSQL backend)."""
        return self.home / "mlartifacts"

    @property
    def components(self) -> tuple[Component, ...]:
        base = (PREFECT_SERVER, PREFECT_WORKER) + ((MLFLOW_SERVER,) if self.runs_mlflow else ())
        dask = (DASK_SCHEDULER, DASK_WORKER) if self.dask_workers else ()
        return ((POSTGRES,) if self.own_postgres else ()) + dask + base

    def pid_file(self, c: Component) -> Path:
        return self.home / f"{c.name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def exe(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise StackError(
                f"{path} not found: run `make setup` (the stack uses the project's virtualenv)"
            )
        return str(path)


# ----------------------------------------------------------------------------- configuration


def _int_setting(settings: Settings, attr: str, key: str, default: int) -> int:
    # Settings may carry the ports (prefect_port, mlflow_port); else the environment.
    value = getattr(settings, attr, None)
    if value is None:
        value = os.environ.get(key) or default
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise StackError(f"{key}={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise StackError(f"{key}={port} is not a port number (1-65535)")
    return port


def _absolute_store(uri: str) -> str:
    """A relative SQLite path is resolved once, here, against the current folder."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_absolute():
            return f"sqlite:///{(Path.cwd() / path).resolve()}"
    return uri


def is_loopback(address: str) -> bool:
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: it resolves beyond this machine


def resolve_auth(backend: str, auth: bool | None, listen: str) -> bool:
    """Authentication is on for the team stack and for any address beyond loopback,
    unless refused: ``--no-auth`` there is an error (StackError)."""
    if not is_loopback(listen):
        if auth is False:
            raise StackError(
                f"--listen {listen} with --no-auth is refused: every service would take "
                "requests from the network with no credentials (anyone reaching the Dask "
                "scheduler runs code on its workers). Drop --no-auth, or listen on 127.0.0.1."
            )
        return True
    return (backend == "postgres") if auth is None else auth


def load_config(
    settings: Settings,
    backend: str = "sqlite",
    dask_workers: int | None = None,
    auth: bool | None = None,
    listen: str = HOST,
) -> StackConfig:
    from bnpipe.tracking import artifact_root_for  # light: MLflow itself is imported lazily there

    prefect_port = _int_setting(
        settings, "prefect_port", "BNPIPE_PREFECT_PORT", DEFAULT_PREFECT_PORT
    )
    mlflow_port = _int_setting(settings, "mlflow_port", "BNPIPE_MLFLOW_PORT", DEFAULT_MLFLOW_PORT)
    tracking_uri = _absolute_store(settings.tracking_uri)
    try:
        timeout = float(os.environ.get("BNPIPE_STACK_TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        raise StackError(
            f"BNPIPE_STACK_TIMEOUT={os.environ['BNPIPE_STACK_TIMEOUT']!r} is not a number of seconds"
        ) from None
    return StackConfig(
        project_dir=settings.project_dir,
        state_dir=settings.state_dir,
        prefect_port=prefect_port,
        mlflow_port=mlflow_port,
        tracking_uri=tracking_uri,
        artifacts_uri=artifact_root_for(tracking_uri, settings.artifact_root),
        data_mirror=settings.data_mirror,
        bin_dir=Path(sys.executable).parent,
        timeout=timeout,
        backend=backend,
        postgres_url=(os.environ.get("BNPIPE_POSTGRES_URL") or None)
        if backend == "postgres"
        else None,
        postgres_port=_int_setting(
            settings, "postgres_port", "BNPIPE_POSTGRES_PORT", DEFAULT_POSTGRES_PORT
        ),
        dask_workers=(os.cpu_count() or 1) if dask_workers is None else dask_workers,
        dask_port=_int_setting(settings, "dask_port", "BNPIPE_DASK_PORT", DEFAULT_DASK_PORT),
        auth=resolve_auth(backend, auth, listen),
        listen=listen,
    )


def stack_env(cfg: StackConfig) -> dict[str, str]:
    """The environment of every process the stack starts (servers, CLI steps, worker, flows)."""
    # Credentials of a shell that ran `eval "$(bnpipe stack env)"` stay out: each
    # process gets only its own side of them (client_env, the servers' extra_env).
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_SECRETS)}
    env.update(HYGIENE)
    loopback = ",".join(dict.fromkeys(("127.0.0.1", "localhost", cfg.host)))
    for key in ("NO_PROXY", "no_proxy"):  # never send loopback traffic through a proxy
        env[key] = ",".join(v for v in (env.get(key), loopback) if v)
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


# ----------------------------------------------------------------------------- processes


def _is_component(pid: int, c: Component) -> bool:
    """The process behind a pid file is still ours (guards against PID reuse)."""
    if not is_alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid file
    words = {Path(a.decode(errors="replace")).name for a in args if a}
    return all(w in words for w in c.argv_names)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = proc_stat(int(entry.name))
                if stat and len(stat) > 1:
                    children.setdefault(int(stat[1]), []).append(int(entry.name))
    return children


def _descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (flow runs may sit in sessions of their own)."""
    children, found, todo = _children_map(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(pid: int, sig: int, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _wait_dead(pids: Iterable[int], timeout: float) -> bool:
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while any(is_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_component(pid: int, c: Component, grace: float = STOP_GRACE_SECONDS) -> str:
    """Stop a component. PostgreSQL's postmaster gets SIGINT (its fast shutdown:
    sessions end, a checkpoint is written) and nothing else: a signal to its
    children would look like a crash to it and start recovery."""
    if not c.postmaster:
        return stop_process(pid, second_sigterm=c.second_sigterm, grace=grace)
    _kill(pid, signal.SIGINT)
    if _wait_dead([pid], max(grace, 30.0)):
        return "stopped"
    return stop_process(pid, grace=5.0)


def stop_process(
    pid: int, *, second_sigterm: bool = False, grace: float = STOP_GRACE_SECONDS
) -> str:
    """Stop the process group led by ``pid`` and every process below it.

    Descendants in process groups of their own (a worker's flow runs) get their
    SIGTERM first, while their parent still relays their output, so a flow run
    can end its MLflow runs and report its state. Then the group gets one SIGTERM
    (a second one after 3 s for a Prefect worker, which stops on the second);
    whatever is left after ``grace`` seconds gets SIGKILL. Returns how it ended.
    """
    family = _descendants(pid)
    detached = [p for p in family if _pgid(p) not in (None, pid)]
    for p in detached:
        _kill(p, signal.SIGTERM)
    clean = _wait_dead(detached, grace)
    _kill(pid, signal.SIGTERM, group=True)
    if second_sigterm and not _wait_dead([pid], 3.0):
        _kill(pid, signal.SIGTERM, group=True)
    clean = _wait_dead([pid, *family], grace) and clean
    if clean:
        return "stopped"
    survivors = [p for p in {pid, *family, *_descendants(pid)} if is_alive(p)]
    _kill(pid, signal.SIGKILL, group=True)
    for p in survivors:
        _kill(p, signal.SIGKILL)
    _wait_dead(survivors, 5.0)
    return "killed (did not stop on SIGTERM)"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def port_free(port: int, host: str = HOST) -> bool:
    """Nothing listens on ``host:port`` (a server would bind it with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _api(cfg: StackConfig, path: str, json_body: object = None) -> tuple[int, bytes] | None:
    """A request to the stack's Prefect API (with its auth string when auth is on)."""
    return http_get(
        f"{cfg.prefect_api_url}{path}", json_body=json_body, headers=cfg.prefect_headers()
    )


def _healthy(url: str, timeout: float = 3.0) -> bool:
    answer = http_get(url, timeout)
    return answer is not None and answer[0] == 200


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


# ----------------------------------------------------------------------------- pieces of up


class _Starter:
    """Starts components for one ``up``; stops exactly those again if ``up`` fails."""

    def __init__(self, cfg: StackConfig, env: Mapping[str, str]):
        self.cfg, self.env = cfg, dict(env)
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(
        self, c: Component, argv: list[str], extra_env: Mapping[str, str] | None = None, **popen
    ) -> subprocess.Popen:
        """Start ``c``; ``extra_env`` for it alone (a database URL with its password
        goes to the server that needs it, never on a command line or into a log)."""
        log = self.cfg.log_file(c.name)
        with open(log, "ab") as fh:
            fh.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            fh.flush()
            proc = subprocess.Popen(
                argv, cwd=self.cfg.project_dir, env={**self.env, **(extra_env or {})},
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, **popen,
            )  # fmt: skip
        self.procs[c.name] = proc
        self.cfg.pid_file(c).write_text(f"{proc.pid}\n")
        return proc

    def wait_for(self, c: Component, ready: Callable[[], bool], what: str) -> None:
        proc, log = self.procs[c.name], self.cfg.log_file(c.name)
        deadline = time.monotonic() + self.cfg.timeout
        while not ready():
            if proc.poll() is not None:
                raise StackError(
                    f"the {c.title} exited (code {proc.returncode}) before {what}; see {log}:\n{_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"the {c.title} did not become ready ({what}) within {self.cfg.timeout:.0f} s "
                    f"(BNPIPE_STACK_TIMEOUT); see {log}:\n{_tail(log)}"
                )
            time.sleep(0.5)

    def run(
        self,
        title: str,
        argv: list[str],
        log_name: str,
        timeout: float,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        log = self.cfg.log_file(log_name)
        with open(log, "ab") as fh:
            fh.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            fh.flush()
            try:
                result = subprocess.run(
                    argv, cwd=self.cfg.project_dir, env={**self.env, **(extra_env or {})},
                    stdin=subprocess.DEVNULL,
                    stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise StackError(
                    f"{title} took longer than {timeout:.0f} s; see {log}:\n{_tail(log)}"
                ) from None
        if result.returncode != 0:
            raise StackError(f"{title} failed (exit {result.returncode}); see {log}:\n{_tail(log)}")

    def rollback(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            c = next(c for c in COMPONENTS if c.name == name)
            if proc.poll() is None:
                stop_component(proc.pid, c, grace=5.0)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
            self.cfg.pid_file(c).unlink(missing_ok=True)


def _ensure_databases(cfg: StackConfig, after: str = "") -> None:
    """The ``prefect`` and ``mlflow`` databases (and pg_trgm) exist; else one line."""
    t = _step(f"PostgreSQL databases on {_pg_masked(cfg)}")
    try:
        created = pgserver.ensure_databases(cfg.pg(), timeout=10.0)
    except pgserver.PostgresError as exc:
        print(" failed", flush=True)
        raise StackError(f"{exc}. {after}".strip()) from None
    _done(
        t, f"created {', '.join(created)}" if created else f"{', '.join(pgserver.DATABASES)} there"
    )


def _start_own_postgres(cfg: StackConfig, starter: _Starter) -> None:
    own = cfg.own_postgres
    t = _step(f"PostgreSQL on {HOST}:{cfg.postgres_port} ({own.home})")
    with open(cfg.log_file(POSTGRES.name), "ab") as log:
        try:
            own.init(log)
        except pgserver.PostgresError as exc:
            raise StackError(str(exc)) from None
    starter.spawn(POSTGRES, own.argv(), **own.run_as())

    def answering() -> bool:
        try:
            pgserver.ensure_databases(own.pg_url(), timeout=2.0)
        except pgserver.PostgresError:
            return False
        return True

    starter.wait_for(POSTGRES, answering, "accepting connections")
    _done(t)


def _start_dask(cfg: StackConfig, starter: _Starter, start: list[Component]) -> None:
    """A scheduler on the listen address and ``dask_workers`` one-thread workers (one
    nanny process, ``--nworkers``); flows get its address as ``BNPIPE_DASK_ADDRESS``.
    With auth, both speak mutual TLS with certificates of the stack's CA only."""
    dask = cfg.exe("dask")
    tls = lambda role: ["--protocol", "tls", *cfg.credentials.dask_argv(role)] if cfg.auth else []  # noqa: E731
    if DASK_SCHEDULER in start:
        t = _step(f"Dask scheduler on {cfg.dask_address}")
        starter.spawn(
            DASK_SCHEDULER,
            [dask, "scheduler", "--host", cfg.listen, "--port", str(cfg.dask_port),
             "--no-dashboard", *tls("scheduler")],
        )  # fmt: skip
        starter.wait_for(
            DASK_SCHEDULER, lambda: not port_free(cfg.dask_port, cfg.host), "listening"
        )
        _done(t)
    t = _step(f"{cfg.dask_workers} Dask worker(s), 1 thread each")
    worker_tls = tls("worker")[2:]  # a worker takes the scheduler's protocol from its address
    starter.spawn(
        DASK_WORKER,
        [dask, "worker", cfg.dask_address, "--nworkers", str(cfg.dask_workers),
         "--nthreads", "1", "--name", "bnpipe-stack", "--no-dashboard", *worker_tls],
    )  # fmt: skip
    starter.wait_for(
        DASK_WORKER, lambda: (dask_worker_count(cfg) or 0) >= cfg.dask_workers, "joining"
    )
    _done(t)


def dask_worker_count(cfg: StackConfig) -> int | None:
    """Workers connected to the stack's scheduler (None: it does not answer)."""
    if not cfg.dask_address or port_free(cfg.dask_port, cfg.host):
        return None
    from distributed import Client

    try:
        with Client(cfg.dask_address, timeout=3, security=_dask_security(cfg)) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])
    except Exception:  # noqa: BLE001 - not (yet) answering
        return None


def _dask_security(cfg: StackConfig):
    return cfg.credentials.dask_security() if cfg.auth else None


def _step(message: str) -> float:
    print(f"  {message} ...", end="", flush=True)
    return time.perf_counter()


def _done(started: float, note: str = "ok") -> None:
    print(f" {note} ({time.perf_counter() - started:.1f} s)", flush=True)


def _pool_ready(cfg: StackConfig) -> bool:
    answer = _api(cfg, f"/work_pools/{WORK_POOL}")
    if answer is None or answer[0] != 200:
        return False
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(answer[1]).get("status") == "READY"
    return False


def _deployments(cfg: StackConfig) -> list[dict]:
    """The Prefect server's deployments with their flow's name (``flow/deployment``)."""
    answer = _api(cfg, "/deployments/filter", json_body={"limit": 200})
    flows = _api(cfg, "/flows/filter", json_body={"limit": 200})
    if not answer or answer[0] != 200 or not flows or flows[0] != 200:
        return []
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        names = {f["id"]: f["name"] for f in json.loads(flows[1])}
        found = json.loads(answer[1])
        for d in found:
            d["full_name"] = f"{names.get(d['flow_id'], '?')}/{d['name']}"
        return sorted(found, key=lambda d: d["full_name"])
    return []


def _deployment_names(cfg: StackConfig) -> list[str]:
    return [d["full_name"] for d in _deployments(cfg)]


def _deployment_lines(cfg: StackConfig) -> list[str]:
    """One line per deployment: its schedules, whether an event triggers it, its last run."""
    automations = _api(cfg, "/automations/filter", json_body={})
    triggered: set[str] = set()
    with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
        for a in json.loads(automations[1]) if automations and automations[0] == 200 else []:
            for action in a.get("actions") or []:
                if a.get("enabled") and action.get("deployment_id"):
                    triggered.add(action["deployment_id"])
    lines = []
    for d in _deployments(cfg):
        when = []
        for s in d.get("schedules") or []:
            spec = s.get("schedule") or {}
            what = f"cron {spec['cron']}" if "cron" in spec else f"every {spec.get('interval'):g} s"
            when.append(what + ("" if s.get("active", True) else " (paused)"))
        if d["id"] in triggered:
            when.append("on an event")
        last = _api(
            cfg,
            "/flow_runs/filter",
            json_body={
                "deployments": {"id": {"any_": [d["id"]]}},
                "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}},
                "sort": "EXPECTED_START_TIME_DESC",
                "limit": 1,
            },
        )
        state = "none"
        with contextlib.suppress(ValueError, TypeError, AttributeError, IndexError, KeyError):
            run = json.loads(last[1])[0] if last and last[0] == 200 else None
            if run:
                state = f"{run['state']['name']} at {run['expected_start_time'][:19]}Z"
        lines.append(f"{d['full_name']:<26} {', '.join(when) or 'by hand'};  last run: {state}")
    return lines


def _worker_online(cfg: StackConfig, since: float) -> bool:
    """Our worker has sent a heartbeat since ``since`` (epoch seconds): a pool can
    still look READY on the last heartbeat of a worker that was just stopped."""
    answer = _api(cfg, f"/work_pools/{WORK_POOL}/workers/filter", json_body={})
    if answer is None or answer[0] != 200:
        return False
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        for worker in json.loads(answer[1]):
            beat = worker.get("last_heartbeat_time")
            if worker.get("name") == WORKER_NAME and beat:
                when = datetime.fromisoformat(beat.replace("Z", "+00:00")).timestamp()
                if when >= since - 1.0:
                    return True
    return False


def _write_prefect_toml(cfg: StackConfig) -> str:
    """``<project>/prefect.toml`` with ``[api] url``: prefect commands in the project
    folder then reach this stack. A prefect.toml someone else wrote is left alone."""
    path = cfg.prefect_toml
    if path.exists() and not path.read_text(errors="replace").startswith(TOML_MARKER):
        return f"left {path} alone (not written by bnpipe): set PREFECT_API_URL={cfg.prefect_api_url} in your shell"
    path.write_text(
        f"{TOML_MARKER}; `bnpipe stack down` removes it.\n"
        "# Prefect commands run in this folder talk to the local stack's server.\n"
        f"# bnpipe-stack-state = {json.dumps(str(cfg.home))}\n"
        "[api]\n"
        f"url = {json.dumps(cfg.prefect_api_url)}\n"
    )
    return f"wrote {path} ([api] url = {cfg.prefect_api_url})"


def _remove_prefect_toml(cfg: StackConfig) -> None:
    path = cfg.prefect_toml
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace")
        if (
            text.startswith(TOML_MARKER)
            and f"bnpipe-stack-state = {json.dumps(str(cfg.home))}" in text
        ):
            path.unlink()
            print(f"removed {path}")


def _recorded(cfg: StackConfig) -> dict:
    try:
        return json.loads(cfg.info_path.read_text())
    except (OSError, ValueError):
        return {}


def _with_recorded_ports(cfg: StackConfig) -> StackConfig:
    """While a stack runs, its recorded ports win over the current settings."""
    info = _recorded(cfg)
    if not info:
        return cfg
    backend = info.get("backend", "sqlite")
    return replace(
        cfg,
        prefect_port=int(info.get("prefect_port", cfg.prefect_port)),
        mlflow_port=int(info.get("mlflow_port", cfg.mlflow_port)),
        tracking_uri=info.get("tracking_uri", cfg.tracking_uri),
        backend=backend,
        postgres_port=int(info.get("postgres_port", cfg.postgres_port)),
        postgres_url=(os.environ.get("BNPIPE_POSTGRES_URL") or None)
        if info.get("postgres_external")
        else None,
        dask_workers=int(info.get("dask_workers", 0)),
        dask_port=int(info.get("dask_port", cfg.dask_port)),
        auth=bool(info.get("auth", False)),
        listen=info.get("listen", HOST),
    )


def _running(cfg: StackConfig) -> dict[str, int | None]:
    """Component name -> PID of its live process (None: not running)."""
    out: dict[str, int | None] = {}
    for c in COMPONENTS:
        pid = read_pid(cfg.pid_file(c))
        out[c.name] = pid if pid is not None and _is_component(pid, c) else None
    return out


def _print_urls(cfg: StackConfig) -> None:
    print(f"Prefect UI:  {cfg.prefect_url}   (API {cfg.prefect_api_url})")
    if cfg.dask_address:
        print(
            f"Dask:        {cfg.dask_address}   ({cfg.dask_workers} worker(s); "
            "the BNPIPE_DASK_ADDRESS of flow runs)"
        )
    if cfg.postgres:
        where = _pg_masked(cfg)
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


def _mlflow_users(cfg: StackConfig) -> str:
    """Create the ``bnpipe`` and ``reader`` users (as the admin) when missing.
    The server's default permission is READ: ``reader`` can browse everything and
    change nothing; ``bnpipe`` owns (MANAGE) the experiments and models it creates."""
    import base64

    creds = cfg.credentials
    admin = f"admin:{creds.mlflow_password('admin')}"
    headers = {"Authorization": "Basic " + base64.b64encode(admin.encode()).decode()}
    made = []
    for user in (MLFLOW_USER, MLFLOW_READER):
        body = {"username": user, "password": creds.mlflow_password(user)}
        answer = http_get(
            f"{cfg.mlflow_url}/api/2.0/mlflow/users/create", json_body=body, headers=headers
        )
        if answer is None:
            raise StackError(f"MLflow server at {cfg.mlflow_url}: no answer while creating users")
        if answer[0] == 200:
            made.append(user)
        elif answer[0] != 400:  # 400: RESOURCE_ALREADY_EXISTS
            raise StackError(
                f"MLflow server at {cfg.mlflow_url}: creating user {user!r} answered HTTP "
                f"{answer[0]} (the admin password in {creds.home} no longer matches the "
                "user store? see docs/team-stack.md, rotating passwords)"
            )
    # bnpipe may write what exists already: the Default experiment (runs check that
    # the store takes writes) and what a store had before auth was on; what it
    # creates from now on is its own (MLflow grants its creator MANAGE)
    api = f"{cfg.mlflow_url}/api/2.0/mlflow"
    found = http_get(f"{api}/experiments/search", json_body={"max_results": 1000}, headers=headers)
    models = http_get(f"{api}/registered-models/search?max_results=1000", headers=headers)
    grants = [("experiment", "0")]
    with contextlib.suppress(ValueError, TypeError, KeyError):
        grants += [
            ("experiment", e["experiment_id"])
            for e in json.loads(found[1]).get("experiments", [])
            if e["experiment_id"] != "0"
        ]
    with contextlib.suppress(ValueError, TypeError, KeyError):
        grants += [
            ("registered_model", m["name"])
            for m in json.loads(models[1]).get("registered_models", [])
        ]
    for kind, key in grants:
        grant = {"username": MLFLOW_USER, "resource_type": kind, "resource_id": key,
                 "permission": "MANAGE"}  # fmt: skip
        answer = http_get(
            f"{cfg.mlflow_url}/api/3.0/mlflow/users/permissions/grant",
            json_body=grant,
            headers=headers,
        )
        if answer is None or answer[0] not in (200, 400):  # 400: granted already
            raise StackError(
                f"MLflow server at {cfg.mlflow_url}: granting {MLFLOW_USER!r} MANAGE on "
                f"{kind} {key} answered {answer[0] if answer else 'nothing'}"
            )
    return f"created {', '.join(made)}" if made else "there"


def _pg_problem(cfg: StackConfig) -> str | None:
    """None when both databases answer; else why not (no password in it)."""
    try:
        pg = cfg.pg()
        for database in pgserver.DATABASES:
            pgserver.ping(pg, database)
    except pgserver.PostgresError as exc:
        return str(exc)
    return None


def _pg_masked(cfg: StackConfig) -> str:
    try:
        return cfg.pg().masked()
    except pgserver.PostgresError:
        return "(unknown)"


# ----------------------------------------------------------------------------- commands


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
    cfg = _with_recorded_ports(fresh)
    running = _running(cfg)
    if any(running.values()) and cfg.backend != backend:
        raise StackError(
            f"the stack is up on the {cfg.backend} backend: `bnpipe stack down` first, "
            f"then `bnpipe stack up --backend {backend}`"
        )
    if any(running.values()) and (cfg.auth, cfg.listen) != (fresh.auth, fresh.listen):
        raise StackError(
            f"the stack is up with auth {'on' if cfg.auth else 'off'} on {cfg.listen}: "
            "`bnpipe stack down` first to change --auth or --listen"
        )
    wanted = cfg.components
    if all(running[c.name] for c in wanted):
        print(f"stack already up (state {cfg.home}):")
        print("  " + _write_prefect_toml(cfg))
        _print_urls(cfg)
        return 0
    if not any(running.values()):
        cfg = fresh  # nothing runs: settings decide
    if cfg.prefect_port == cfg.mlflow_port and cfg.runs_mlflow:
        raise StackError(
            f"BNPIPE_PREFECT_PORT and BNPIPE_MLFLOW_PORT are both {cfg.prefect_port}: choose two ports"
        )
    start = [c for c in wanted if not running[c.name]]
    if PREFECT_SERVER in start and running[PREFECT_WORKER.name]:
        start.append(PREFECT_WORKER)  # a worker that outlived its server restarts with it
    ports = {PREFECT_SERVER: ("Prefect server", cfg.prefect_port, "BNPIPE_PREFECT_PORT"),
             MLFLOW_SERVER: ("MLflow server", cfg.mlflow_port, "BNPIPE_MLFLOW_PORT"),
             POSTGRES: ("PostgreSQL server", cfg.postgres_port, "BNPIPE_POSTGRES_PORT"),
             DASK_SCHEDULER: ("Dask scheduler", cfg.dask_port, "BNPIPE_DASK_PORT")}  # fmt: skip
    for c in start:  # before anything changes
        if c in ports and not port_free(ports[c][1], cfg.host if c is not POSTGRES else HOST):
            title, port, key = ports[c]
            raise StackError(
                f"port {port} on {cfg.host} is already in use, so the {title} cannot start there; "
                f"stop what uses it or set {key} to a free port. Nothing was started."
            )
    if cfg.postgres and not cfg.own_postgres:  # a team's server: reachable, databases there
        _ensure_databases(cfg, "Nothing was started.")
    if PREFECT_WORKER in start and running[PREFECT_WORKER.name]:
        stop_process(running[PREFECT_WORKER.name], second_sigterm=True)
    for d in (cfg.home, cfg.prefect_home, cfg.logs_dir):
        d.mkdir(parents=True, exist_ok=True)
    for c in start:  # forget stale pid files
        cfg.pid_file(c).unlink(missing_ok=True)

    env = stack_env(cfg)
    starter = _Starter(cfg, env)
    began = time.perf_counter()
    print(f"bnpipe stack up: state {cfg.home}, logs {cfg.logs_dir}", flush=True)
    try:
        if POSTGRES in start:
            _start_own_postgres(cfg, starter)
        if cfg.auth:
            t = _step(f"credentials in {cfg.credentials.home}")
            made = cfg.credentials.ensure(cfg.auth_database_uri, hosts=(cfg.host,))
            _done(t, f"generated {', '.join(made)}" if made else "kept")
        clients = cfg.client_env()  # the worker's and `prefect deploy`'s credentials
        if DASK_SCHEDULER in start or DASK_WORKER in start:
            _start_dask(cfg, starter, start)
        if MLFLOW_SERVER in start:
            argv = [
                cfg.exe("mlflow"), "server", "--host", cfg.listen, "--port", str(cfg.mlflow_port),
                "--workers", "1",
            ]  # fmt: skip
            extra = {}
            if cfg.auth:  # users in the stack's own store (mlflow_auth, or mlflow-auth.db)
                argv += ["--app-name", "basic-auth"]
                extra.update(cfg.credentials.mlflow_server_env())
            if not is_loopback(cfg.listen):  # MLflow answers only Host headers it knows
                names = [cfg.listen] if cfg.listen not in WILDCARDS else []
                if cfg.listen in WILDCARDS:
                    names += [socket.gethostname(), socket.getfqdn()]
                hosts = ["localhost", "127.0.0.1", *dict.fromkeys(names)]
                extra["MLFLOW_SERVER_ALLOWED_HOSTS"] = ",".join(
                    pattern for h in hosts for pattern in (h, f"{h}:*")
                )
            if cfg.postgres:  # the store in PostgreSQL, artifacts served by this server
                extra["MLFLOW_BACKEND_STORE_URI"] = cfg.pg().url("mlflow", "psycopg2")
                cfg.served_artifacts.mkdir(parents=True, exist_ok=True)
                argv += ["--default-artifact-root", "mlflow-artifacts:/", "--serve-artifacts"]
                argv += ["--artifacts-destination", str(cfg.served_artifacts)]
            else:
                argv += ["--backend-store-uri", cfg.tracking_uri]
            if cfg.artifacts_uri and not cfg.postgres:  # beside the store, old and new experiments
                argv += ["--default-artifact-root", cfg.artifacts_uri]
                argv += ["--artifacts-destination", cfg.artifacts_uri]
            if cfg.tracking_uri.startswith("sqlite:///") and not cfg.postgres:
                Path(cfg.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                    parents=True, exist_ok=True
                )
            starter.spawn(MLFLOW_SERVER, argv, extra)
        prefect = cfg.exe("prefect")
        if PREFECT_SERVER in start:
            t = _step(f"Prefect server on {cfg.prefect_url}")
            extra = {}
            if cfg.postgres:
                extra["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = cfg.pg().url("prefect", "asyncpg")
            if cfg.auth:
                extra["PREFECT_SERVER_API_AUTH_STRING"] = cfg.credentials.prefect_auth_string
            starter.spawn(
                PREFECT_SERVER,
                [prefect, "server", "start", "--host", cfg.listen, "--port", str(cfg.prefect_port)],
                extra,
            )
            starter.wait_for(
                PREFECT_SERVER,
                lambda: _healthy(f"{cfg.prefect_api_url}/health"),
                "answering /api/health",
            )
            _done(t)
        if PREFECT_WORKER in start:
            # The worker creates the process pool when it is missing; `prefect deploy`
            # needs the pool to exist, so it follows.
            t = _step(f"process worker on work pool {WORK_POOL}")
            since = time.time()
            starter.spawn(
                PREFECT_WORKER,
                [prefect, "worker", "start", "--pool", WORK_POOL, "--type", "process",
                 "--name", WORKER_NAME, "--limit", "1"],
                clients,
            )  # fmt: skip
            starter.wait_for(
                PREFECT_WORKER, lambda: _worker_online(cfg, since), "its first heartbeat"
            )
            _done(t)
        t = _step("deployments from prefect.yaml (prefect deploy --all)")
        starter.run(
            "prefect deploy --all",
            [prefect, "--no-prompt", "deploy", "--all"],
            "deploy",
            300,
            clients,
        )
        _done(t, ", ".join(_deployment_names(cfg)) or "none found")
        if MLFLOW_SERVER in start:
            t = _step(f"MLflow server on {cfg.mlflow_url}")
            starter.wait_for(
                MLFLOW_SERVER, lambda: _healthy(f"{cfg.mlflow_url}/health"), "answering /health"
            )
            _done(t)
        if cfg.auth and cfg.runs_mlflow:
            t = _step(f"MLflow users {MLFLOW_USER} (edit) and {MLFLOW_READER} (read)")
            _done(t, _mlflow_users(cfg))
    except BaseException:
        print(" failed", flush=True)
        starter.rollback()
        raise
    cfg.info_path.write_text(
        json.dumps(
            {
                "prefect_port": cfg.prefect_port,
                "mlflow_port": cfg.mlflow_port,
                "prefect_url": cfg.prefect_url,
                "mlflow_url": cfg.mlflow_url if cfg.runs_mlflow else None,
                "tracking_uri": cfg.tracking_uri,
                "project_dir": str(cfg.project_dir),
                "backend": cfg.backend,
                "postgres": _pg_masked(cfg) if cfg.postgres else None,
                "postgres_external": bool(cfg.postgres and not cfg.own_postgres),
                "postgres_port": cfg.postgres_port,
                "dask_workers": cfg.dask_workers,
                "dask_port": cfg.dask_port,
                "dask_address": cfg.dask_address,
                "auth": cfg.auth,
                "listen": cfg.listen,
                "credentials": str(cfg.credentials.home) if cfg.auth else None,
            },
            indent=2,
        )
        + "\n"
    )
    print("  " + _write_prefect_toml(cfg))
    print(f"stack up in {time.perf_counter() - began:.1f} s")
    _print_urls(cfg)
    if cfg.auth:
        print('Run a deployment:  eval "$(.venv/bin/bnpipe stack env)"; '
              ".venv/bin/prefect deployment run 'bn-comparison/iris' --watch")  # fmt: skip
    else:
        print("Run a deployment:  .venv/bin/prefect deployment run 'bn-comparison/iris' --watch")
    return 0


def env_lines(settings: Settings) -> list[str]:
    """``export`` lines for a shell or a second host (the one place secrets are printed)."""
    import shlex

    cfg = _with_recorded_ports(load_config(settings))
    if not _recorded(cfg):
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


def down(settings: Settings) -> int:
    """Stop every component this stack started (by PID); 0 also when nothing ran."""
    cfg = _with_recorded_ports(load_config(settings))
    stopped = 0
    for c in STOP_ORDER:
        path = cfg.pid_file(c)
        pid = read_pid(path)
        if pid is None:
            path.unlink(missing_ok=True)
            continue
        if not _is_component(pid, c):
            print(f"{c.title}: not running (stale pid {pid})")
            path.unlink(missing_ok=True)
            continue
        began = time.perf_counter()
        how = stop_component(pid, c)
        path.unlink(missing_ok=True)
        stopped += 1
        print(f"{c.title} (pid {pid}): {how} in {time.perf_counter() - began:.1f} s", flush=True)
    _remove_prefect_toml(cfg)
    cfg.info_path.unlink(missing_ok=True)
    if not stopped:
        print("stack is not running")
    return 0


def status(settings: Settings) -> int:
    """Print URLs, PIDs and liveness; 0 when every component runs and answers."""
    cfg = _with_recorded_ports(load_config(settings))
    running = _running(cfg)
    _print_urls(cfg)
    health = {
        PREFECT_SERVER.name: f"{cfg.prefect_api_url}/health",
        MLFLOW_SERVER.name: f"{cfg.mlflow_url}/health",
    }
    ok = True
    for c in cfg.components:
        pid = running[c.name]
        if pid is None:
            recorded = read_pid(cfg.pid_file(c))
            note = f"stale pid {recorded}" if recorded else "no pid file"
            print(f"  {c.title:<15} not running ({note})")
            ok = False
            continue
        state = "alive"
        if c.name in health and not _healthy(health[c.name], timeout=5.0):
            state, ok = "alive, not answering " + health[c.name], False
        if c is PREFECT_WORKER:
            state += f", pool {WORK_POOL} " + ("READY" if _pool_ready(cfg) else "not ready")
        if c is POSTGRES and (problem := _pg_problem(cfg)):
            state, ok = f"alive, {problem}", False
        if c is DASK_SCHEDULER:
            n = dask_worker_count(cfg)
            state += f", {cfg.dask_address}, {n} worker(s)" if n is not None else ", not answering"
            ok = ok and n is not None
        print(f"  {c.title:<15} pid {pid:<7} {state}   log {cfg.log_file(c.name)}")
    if cfg.postgres and not cfg.own_postgres:  # a team's server: no pid of ours
        problem = _pg_problem(cfg)
        ok = ok and not problem
        print(f"  {'PostgreSQL':<15} {_pg_masked(cfg)}   {problem or 'answering'}")
    if running.get(PREFECT_SERVER.name):
        lines = _deployment_lines(cfg)
        print("Deployments (schedule, triggers, last run):" if lines else "No deployments.")
        for line in lines:
            print("  " + line)
    print(
        "stack is up" if ok else "stack is not (fully) up: `bnpipe stack up` starts what is missing"
    )
    return 0 if ok else 1

"""The stack's settings: ``StackConfig`` (ports, folders, backend, auth, listen
address) from the settings and the environment, when authentication is on, and
the ``stack.json`` a running stack records (its ports win while it runs)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from bnpipe.ops import pgserver
from bnpipe.ops.credentials import MLFLOW_USER, Credentials
from bnpipe.ops.stack.components import (
    DASK_SCHEDULER,
    DASK_WORKER,
    MLFLOW_SERVER,
    POSTGRES,
    PREFECT_SERVER,
    PREFECT_WORKER,
    Component,
)
from bnpipe.settings import Settings

HOST = "127.0.0.1"
WILDCARDS = ("0.0.0.0", "::")
DEFAULT_PREFECT_PORT = 4200
DEFAULT_MLFLOW_PORT = 5000
DEFAULT_POSTGRES_PORT = 5433
DEFAULT_DASK_PORT = 8786
DEFAULT_TIMEOUT = 180.0
BACKENDS = ("sqlite", "postgres")


class StackError(RuntimeError):
    """The stack cannot be started (port taken, a server that does not come up, ...)."""


def url_host(host: str) -> str:
    """``host`` as a URL (or a Host header) has it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def hostport(host: str, port: int | str) -> str:
    """``host:port`` as a URL has it (``127.0.0.1:5000``, ``[::1]:5000``)."""
    return f"{url_host(host)}:{port}"


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
        return f"{'tls' if self.auth else 'tcp'}://{hostport(self.host, self.dask_port)}"

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
        return f"http://{hostport(self.host, self.prefect_port)}"

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_url}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://{hostport(self.host, self.mlflow_port)}"

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
        """Where the databases are (with the password: never print it, see ``pg_masked``)."""
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

    def pg_masked(self) -> str:
        """Where the databases are, without the password (for output)."""
        try:
            return self.pg().masked()
        except pgserver.PostgresError:
            return "(unknown)"


# ----------------------------------------------------------------------------- from the settings


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

    if listen.startswith("[") and listen.endswith("]"):  # --listen [::1]: as a URL writes it
        listen = listen[1:-1]
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
        postgres_url=_team_postgres_url() if backend == "postgres" else None,
        postgres_port=_int_setting(
            settings, "postgres_port", "BNPIPE_POSTGRES_PORT", DEFAULT_POSTGRES_PORT
        ),
        dask_workers=(os.cpu_count() or 1) if dask_workers is None else dask_workers,
        dask_port=_int_setting(settings, "dask_port", "BNPIPE_DASK_PORT", DEFAULT_DASK_PORT),
        auth=resolve_auth(backend, auth, listen),
        listen=listen,
    )


def _team_postgres_url() -> str | None:
    return os.environ.get("BNPIPE_POSTGRES_URL") or None


# ----------------------------------------------------------------------------- stack.json


def recorded(cfg: StackConfig) -> dict:
    """What the running stack wrote to ``stack.json`` ({} when none is up)."""
    try:
        return json.loads(cfg.info_path.read_text())
    except (OSError, ValueError):
        return {}


def with_recorded_ports(cfg: StackConfig) -> StackConfig:
    """While a stack runs, its recorded ports win over the current settings."""
    info = recorded(cfg)
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
        postgres_url=_team_postgres_url() if info.get("postgres_external") else None,
        dask_workers=int(info.get("dask_workers", 0)),
        dask_port=int(info.get("dask_port", cfg.dask_port)),
        auth=bool(info.get("auth", False)),
        listen=info.get("listen", HOST),
    )


def save_record(cfg: StackConfig) -> None:
    """``stack.json``: the running stack's ports, URLs and choices (no secret in it)."""
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
                "postgres": cfg.pg_masked() if cfg.postgres else None,
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

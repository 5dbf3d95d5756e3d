"""The stack's MLflow server: its command line and environment (the store, the
artifacts, basic auth, the Host names it answers), its health, and its users."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path

from bnpipe.ops.credentials import MLFLOW_READER, MLFLOW_USER
from bnpipe.ops.stack.components import MLFLOW_SERVER
from bnpipe.ops.stack.config import WILDCARDS, StackConfig, StackError, is_loopback, url_host
from bnpipe.ops.stack.processes import healthy
from bnpipe.ops.stack.starter import Starter, done, step
from bnpipe.probe import http_get


def allowed_hosts(listen: str) -> str:
    """``MLFLOW_SERVER_ALLOWED_HOSTS`` for a server beyond loopback: MLflow answers
    only Host headers it knows (an IPv6 address comes in brackets, ``[addr]:port``)."""
    names = [listen] if listen not in WILDCARDS else [socket.gethostname(), socket.getfqdn()]
    hosts = ["localhost", "127.0.0.1", *dict.fromkeys(names)]
    return ",".join(pattern for h in map(url_host, hosts) for pattern in (h, f"{h}:*"))


def spawn_mlflow(cfg: StackConfig, starter: Starter) -> None:
    """Start the MLflow server (``wait_mlflow`` waits for it)."""
    argv = [
        cfg.exe("mlflow"), "server", "--host", cfg.listen, "--port", str(cfg.mlflow_port),
        "--workers", "1",
    ]  # fmt: skip
    extra = {}
    # MLflow's app, its UI opening in Model training mode (bnpipe.ops.mlflow_app)
    if cfg.auth:  # with basic auth: users in the stack's own store (mlflow_auth, mlflow-auth.db)
        argv += ["--app-name", "bnpipe-basic-auth"]
        extra.update(cfg.credentials.mlflow_server_env())
    else:
        argv += ["--app-name", "bnpipe"]
    if not is_loopback(cfg.listen):
        extra["MLFLOW_SERVER_ALLOWED_HOSTS"] = allowed_hosts(cfg.listen)
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
        Path(cfg.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    starter.spawn(MLFLOW_SERVER, argv, extra)


def wait_mlflow(cfg: StackConfig, starter: Starter) -> None:
    t = step(f"MLflow server on {cfg.mlflow_url}")
    starter.wait_for(
        MLFLOW_SERVER, lambda: healthy(f"{cfg.mlflow_url}/health"), "answering /health"
    )
    done(t)


def ensure_users(cfg: StackConfig) -> None:
    t = step(f"MLflow users {MLFLOW_USER} (edit) and {MLFLOW_READER} (read)")
    done(t, _mlflow_users(cfg))


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

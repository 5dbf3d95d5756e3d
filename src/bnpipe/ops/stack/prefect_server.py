"""The stack's Prefect side: the server, the process worker on the ``bnpipe-process``
work pool, the deployments from ``prefect.yaml``, what the stack asks the API
(pool, workers, deployments, last runs), and the removal of a ``prefect.toml``
an earlier ``stack up`` wrote into the project folder."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from datetime import datetime

from bnpipe.ops.stack.components import PREFECT_SERVER, PREFECT_WORKER
from bnpipe.ops.stack.config import StackConfig
from bnpipe.ops.stack.processes import healthy
from bnpipe.ops.stack.starter import Starter, done, step
from bnpipe.probe import http_get

WORK_POOL = "bnpipe-process"
WORKER_NAME = "bnpipe-worker"
TOML_MARKER = "# Written by `bnpipe stack up`"


def start_server(cfg: StackConfig, starter: Starter) -> None:
    """The Prefect server (API and UI) on the listen address, until /api/health answers."""
    t = step(f"Prefect server on {cfg.prefect_url}")
    extra = {}
    if cfg.postgres:
        extra["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = cfg.pg().url("prefect", "asyncpg")
    if cfg.auth:
        extra["PREFECT_SERVER_API_AUTH_STRING"] = cfg.credentials.prefect_auth_string
    starter.spawn(
        PREFECT_SERVER,
        [cfg.exe("prefect"), "server", "start", "--host", cfg.listen,
         "--port", str(cfg.prefect_port)],
        extra,
    )  # fmt: skip
    starter.wait_for(
        PREFECT_SERVER, lambda: healthy(f"{cfg.prefect_api_url}/health"), "answering /api/health"
    )
    done(t)


def start_worker(cfg: StackConfig, starter: Starter, clients: Mapping[str, str]) -> None:
    """The process worker, until its first heartbeat. It creates the process pool
    when it is missing (``prefect deploy`` needs the pool, so it follows)."""
    t = step(f"process worker on work pool {WORK_POOL}")
    since = time.time()
    starter.spawn(
        PREFECT_WORKER,
        [cfg.exe("prefect"), "worker", "start", "--pool", WORK_POOL, "--type", "process",
         "--name", WORKER_NAME, "--limit", "1"],
        clients,
    )  # fmt: skip
    starter.wait_for(PREFECT_WORKER, lambda: _worker_online(cfg, since), "its first heartbeat")
    done(t)


def deploy(cfg: StackConfig, starter: Starter, clients: Mapping[str, str]) -> None:
    """``prefect deploy --all``: the deployments of ``prefect.yaml``."""
    t = step("deployments from prefect.yaml (prefect deploy --all)")
    starter.run(
        "prefect deploy --all",
        [cfg.exe("prefect"), "--no-prompt", "deploy", "--all"],
        "deploy",
        300,
        clients,
    )
    done(t, ", ".join(d["full_name"] for d in _deployments(cfg)) or "none found")


# ----------------------------------------------------------------------------- the API


def _api(cfg: StackConfig, path: str, json_body: object = None) -> tuple[int, bytes] | None:
    """A request to the stack's Prefect API (with its auth string when auth is on)."""
    return http_get(
        f"{cfg.prefect_api_url}{path}", json_body=json_body, headers=cfg.prefect_headers()
    )


def pool_ready(cfg: StackConfig) -> bool:
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


def deployment_lines(cfg: StackConfig) -> list[str]:
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


# ----------------------------------------------------------------------------- a legacy prefect.toml


def remove_prefect_toml(cfg: StackConfig) -> None:
    """Remove the ``<project>/prefect.toml`` (``[api] url``) that ``stack up`` wrote
    into the project folder before its settings moved to ``bnpipe stack env``:
    Prefect reads ./prefect.toml in every process started there, so every
    ``bnpipe run`` in that folder, with its own store or not, reported to the stack
    (and, with ``--auth``, failed with HTTP 401 without the auth string). Only a
    file bnpipe wrote for this stack's state is removed."""
    path = cfg.prefect_toml
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace")
        if (
            text.startswith(TOML_MARKER)
            and f"bnpipe-stack-state = {json.dumps(str(cfg.home))}" in text
        ):
            path.unlink()
            print(f"removed {path}")

"""Links into the MLflow UI: a comparison's runs, its parent run and a compare-runs
page of its seed runs, as ``bnpipe run`` prints them and the Prefect flow run
links them.

With a tracking server the links point at it. With a SQLite store they point at
the MLflow UI serving that store on 127.0.0.1 and the stack's MLflow port
(``BNPIPE_MLFLOW_PORT``, 5000 by default): what ``bnpipe stack up`` starts, or
:func:`ui_command` by hand. The routes are those of MLflow 3's UI
(``/#/experiments/<id>/runs/<run>``, ``/#/compare-runs?runs=[...]&experiments=[...]``).

Each link carries ``workflowType=machine_learning``: the UI has a GenAI / Model
training switch, kept per browser and GenAI until someone flips it, under which
an experiment opens on an empty traces overview; the URL parameter wins over
the stored choice (read in the UI's workflow-type context, MLflow 3.17). A UI
served with ``--app-name bnpipe`` (:mod:`bnpipe.ops.mlflow_app`; the stack's,
and :func:`ui_command`'s) also starts a new browser in Model training mode, so
the experiment list's own links open experiments on their runs.
"""

from __future__ import annotations

import json
import shlex
import urllib.parse
from collections.abc import Sequence

from bnpipe.ingest import redact
from bnpipe.settings import Settings


def served(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def ui_base(settings: Settings) -> str:
    """The MLflow UI's address for the settings' tracking store (no credentials)."""
    if served(settings.tracking_uri):
        return redact(settings.tracking_uri).rstrip("/")
    return f"http://127.0.0.1:{settings.mlflow_port}"


def ui_command(settings: Settings) -> str:
    """How to serve a SQLite store's UI at :func:`ui_base`."""
    return (
        f".venv/bin/mlflow ui --backend-store-uri {shlex.quote(settings.tracking_uri)} "
        f"--host 127.0.0.1 --port {settings.mlflow_port} --app-name bnpipe"
    )


def ui_answering(settings: Settings, timeout: float = 0.5) -> bool:
    """Something answers MLflow's /health on :func:`ui_base` (``bnpipe stack up`` or an
    ``mlflow ui`` started by hand): the links work as printed."""
    from bnpipe.probe import http_get

    answer = http_get(f"{ui_base(settings)}/health", timeout=timeout)
    return answer is not None and answer[0] == 200


MODEL_TRAINING = "workflowType=machine_learning"


def experiment_runs(base: str, experiment_id: str, view: str | None = None) -> str:
    """The experiment's runs table; with ``view``, opened on that saved view
    (:mod:`bnpipe.tracking.views`: the primary test metric and the winner)."""
    shown = f"viewStateShareKey={urllib.parse.quote(view, safe='')}&" if view else ""
    return f"{base}/#/experiments/{experiment_id}/runs?{shown}{MODEL_TRAINING}"


def run_page(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{MODEL_TRAINING}"


def compare_runs(base: str, experiment_id: str, run_ids: Sequence[str]) -> str:
    def arg(values) -> str:
        return urllib.parse.quote(json.dumps(list(values), separators=(",", ":")), safe="")

    return (
        f"{base}/#/compare-runs?runs={arg(run_ids)}&experiments={arg([experiment_id])}"
        f"&{MODEL_TRAINING}"
    )


def comparison_links(
    settings: Settings, experiment_id: str, parent_id: str, child_ids: Sequence[str]
) -> dict[str, str]:
    """The three links of one comparison: ``runs`` (on the comparison's saved view),
    ``parent``, ``compare``."""
    from bnpipe.tracking.views import VIEW_ID

    base = ui_base(settings)
    return {
        "runs": experiment_runs(base, experiment_id, VIEW_ID),
        "parent": run_page(base, experiment_id, parent_id),
        "compare": compare_runs(base, experiment_id, child_ids),
    }

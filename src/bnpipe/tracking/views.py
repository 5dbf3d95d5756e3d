"""A saved view of a comparison experiment's runs table in the MLflow UI: the
primary test metric and the winner as columns.

MLflow 3.17's runs table starts with the columns Source, Models and Dataset,
built into the UI; no tag or setting changes them. What the UI does read is a
*saved view*: an experiment tag ``mlflow.sharedViewState.<id>`` holding
``{"name", "createdAt", "updatedAt", "state"}``, ``state`` being the JSON of the
table's view (``selectedColumns``, ...). It is listed under the runs page's
**Views** menu and opened by ``?viewStateShareKey=<id>``, as bnpipe's printed
``runs`` link does (:func:`bnpipe.links.experiment_runs`).
"""

from __future__ import annotations

import json
import time

from bnpipe.tracking.writes import _write

VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # the UI's prefix of saved views' tags
VIEW_ID = "bnpipe-comparison"
VIEW_NAME = "bnpipe: winner and {metric}"
VARIANTS = ("plain", "bn")


def column(group: str, key: str) -> str:
    """A runs-table column as the UI names it: ``metrics.`test_rmse```."""
    return f"{group}.`{key}`"


def view_state(primary: str) -> dict:
    """The view's table: the seed runs' ``primary`` test metric and its validation
    twin (which chose the seed), the parent run's mean per variant and its
    ``winner`` tag. The UI orders columns by group (attributes, metrics by name,
    tags): a ``columnOrder`` in a saved view is applied only when the view loads
    before the table does, so none is given, and the snapshot's dataset (in the
    default view) is left out to keep the winner on the screen."""
    val = f"val_{primary.removeprefix('test_')}"
    return {
        "selectedColumns": [
            column("metrics", primary),
            column("metrics", val),
            *(column("metrics", f"{v}_{primary}_mean") for v in VARIANTS),
            column("tags", "winner"),
        ]
    }


def ensure_runs_view(client, experiment_id: str, primary: str) -> str:
    """The saved view :data:`VIEW_ID` on the experiment, written when missing or
    different (its creation time kept); returns its id."""
    key = VIEW_TAG_PREFIX + VIEW_ID
    name, state = VIEW_NAME.format(metric=primary), json.dumps(view_state(primary))
    old = client.get_experiment(experiment_id).tags.get(key)
    try:
        was = json.loads(old) if old else {}
    except ValueError:
        was = {}
    if was.get("name") == name and was.get("state") == state:
        return VIEW_ID
    now = int(time.time() * 1000)
    created = was.get("createdAt") if isinstance(was.get("createdAt"), int) else now
    envelope = {"name": name, "createdAt": created, "updatedAt": now, "state": state}
    _write(client.set_experiment_tag, experiment_id, key, json.dumps(envelope))
    return VIEW_ID

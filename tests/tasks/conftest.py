"""Tasks called as plain functions (``task.fn(...)``) on small real inputs: a tiny
dataset, a SQLite MLflow store of the session's own, a one-worker local Dask
cluster, and a Prefect test API for what needs one (submitting tasks in a flow,
the promotion lock's global concurrency limit). Nothing is mocked."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from bnpipe.catalog import parse_entry


@pytest.fixture(scope="session")
def tiny():
    """120 rows, y ~ 2a - b + noise, one blank target: (spec, frame)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 120), rng.uniform(0, 3, 120)
    frame = pd.DataFrame({"a": a, "b": b, "y": 2 * a - b + rng.normal(0, 0.1, 120)})
    frame.loc[7, "y"] = np.nan
    entry = {"url": "https://example.com/tiny.csv", "task": "regression", "target": "y"}
    return parse_entry("tiny", entry | {"features": ["a", "b"], "missing": "impute"}), frame


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """The tracking URI of a fresh SQLite store (MLflow points at it)."""
    from bnpipe import tracking

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    tracking.connect(uri)
    return uri


@pytest.fixture
def parent(store, tmp_path):
    """A parent run in an experiment of the test's own."""
    from bnpipe import tracking
    from bnpipe.tracking import ParentRun

    client = tracking.connect(store)
    name = f"tasks-{uuid.uuid4().hex[:8]}"
    experiment = tracking.ensure_experiment(client, name, (tmp_path / "artifacts").as_uri())
    run_id = tracking.start_run(client, experiment, run_name="parent", tags={})
    run = ParentRun(store, experiment, run_id)
    yield run
    run.end()


@pytest.fixture(scope="session")
def dask():
    """The session's training cluster (one worker), current for the tasks' own
    ``cluster.opened()`` (the champion scores on it)."""
    from bnpipe.ops import cluster

    with cluster.opened(workers=1) as training:
        yield training


@pytest.fixture(scope="session")
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

"""Fixtures for end-to-end tests: a loopback HTTP mirror and an isolated project state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BNPIPE = REPO / ".venv" / "bin" / "bnpipe"


@pytest.fixture(scope="session")
def http_mirror(data_server):
    """``(base_url, folder)`` of the session's loopback server of ``../shared/data``
    (``data_server``): files written into ``folder`` are served too."""
    return data_server.url, data_server.root


@pytest.fixture
def project_env(tmp_path, http_mirror):
    """Environment for a `bnpipe` subprocess: its own state, MLflow store and catalog copy."""
    base_url, _ = http_mirror
    catalog = tmp_path / "datasets.yaml"
    catalog.write_text((REPO / "datasets.yaml").read_text("utf-8"), "utf-8")
    expectations = tmp_path / "expectations"
    expectations.mkdir()
    for suite in (REPO / "expectations").glob("*.json"):
        (expectations / suite.name).write_text(suite.read_text("utf-8"), "utf-8")
    env = {
        **os.environ,
        "BNPIPE_DATA_MIRROR": base_url,
        "BNPIPE_STATE_DIR": str(tmp_path / "state"),
        "BNPIPE_DASK_WORKERS": "1",  # one TensorFlow load per run on this 2-core machine
        "BNPIPE_CATALOG": str(catalog),
        "BNPIPE_EXPECTATIONS_DIR": str(expectations),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    env["PREFECT_API_URL"] = (
        ""  # ephemeral, even if a `bnpipe stack` prefect.toml is in the checkout
    )
    return env

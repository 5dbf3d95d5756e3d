"""Shared fixtures. Real data is read through BNPIPE_DATA_MIRROR (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bnpipe.settings import telemetry_off

REPO = Path(__file__).resolve().parents[1]

# Offline hygiene for everything the tests start.
telemetry_off()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    """The directory holding the notebook's CSVs (``../shared/data`` by default)."""
    mirror = os.environ.get("BNPIPE_DATA_MIRROR") or str(REPO.parent / "shared" / "data")
    path = Path(mirror).resolve()
    if not (path / "boston.csv").is_file():
        pytest.fail(f"real data not found under {path}: set BNPIPE_DATA_MIRROR to ../shared/data")
    return path


PROJECT_VARS = (
    "BNPIPE_DATA_MIRROR",
    "BNPIPE_CATALOG",
    "BNPIPE_PROJECT_DIR",
    "BNPIPE_EXPECTATIONS_DIR",
    "BNPIPE_STATE_DIR",
)


@pytest.fixture
def env(tmp_path):
    """``os.environ`` for in-process ``bnpipe.ops.cli.main()`` calls, restored afterwards
    (``main`` sets PREFECT_HOME and other hygiene variables with setdefault)."""
    saved = dict(os.environ)
    for key in PROJECT_VARS:
        os.environ.pop(key, None)
    os.environ["BNPIPE_STATE_DIR"] = str(tmp_path / "state")
    yield os.environ
    os.environ.clear()
    os.environ.update(saved)

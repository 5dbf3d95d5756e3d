"""tasks.drift.assess_drift on a real (SQLite) MLflow store: the first run logs its
data profile and snapshot; a later run compares its rows with the champion's profile
and logs ``drift.json``, the ``drift_*`` metrics and the ``drift`` tag."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prefect.logging import disable_run_logger

from bnpipe import drift, ingest, registry, tracking
from bnpipe.catalog import parse_entry
from bnpipe.tasks.drift import assess_drift
from bnpipe.tracking import ParentRun


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """(tracking URI, client, experiment id) of a throwaway SQLite store; each test's
    dataset has a name of its own."""
    tmp = tmp_path_factory.mktemp("drift-task")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = tracking.connect(uri)
    experiment = tracking.ensure_experiment(client, "drift-task", (tmp / "art").as_uri())
    return uri, client, experiment


@pytest.fixture
def spec():
    entry = {
        "url": "https://example.com/flowers.csv",
        "task": "classification",
        "target": "kind",
        "features": ["length", "colour"],
        "categorical": ["colour"],
    }
    return parse_entry(f"flowers{uuid.uuid4().hex[:6]}", entry)


def _frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["a", "b", "c"], n)
    length = np.where(kind == "a", 1.0, np.where(kind == "b", 3.0, 5.0)) + rng.normal(0, 0.4, n)
    return pd.DataFrame({"length": length, "colour": rng.choice(["red", "blue"], n), "kind": kind})


def _snapshot(tmp_path: Path, name: str, frame: pd.DataFrame) -> ingest.Snapshot:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return ingest.Snapshot(
        dataset=name,
        url="https://example.com/flowers.csv",
        sha256="0" * 64,
        path=path,
        size=path.stat().st_size,
        fetched_at="2026-01-01T00:00:00Z",
    )


def _assess(store, spec, tmp_path, frame: pd.DataFrame):
    uri, client, experiment = store
    run_id = tracking.start_run(client, experiment, run_name="parent", tags={})
    parent = ParentRun(uri, experiment, run_id)
    with disable_run_logger():
        check = assess_drift.fn(spec, _snapshot(tmp_path, spec.name, frame), frame, parent)
    return check, client.get_run(run_id), client


def _artifacts(client, run_id: str) -> set[str]:
    names = set()
    for item in client.list_artifacts(run_id):
        inner = client.list_artifacts(run_id, item.path) if item.is_dir else [item]
        names |= {i.path for i in inner}
    return names


def _make_champion(client, spec, run_id: str, tmp_path: Path) -> str:
    name = tracking.registered_model_name(spec.name)
    client.create_registered_model(name)
    (tmp_path / "model").mkdir()
    version = client.create_model_version(
        name, source=str(tmp_path / "model"), tags={drift.PARENT_RUN_TAG: run_id}
    ).version
    client.set_registered_model_alias(name, registry.CHAMPION, version)
    return str(version)


def test_without_a_champion_the_profile_and_snapshot_are_logged(store, spec, tmp_path):
    frame = _frame()
    check, run, client = _assess(store, spec, tmp_path, frame)
    assert check.champion_version is None and check.report is None
    assert run.data.tags["drift"] == "none (no champion yet)"
    assert {drift.PROFILE_ARTIFACT, f"data/{spec.name}.csv"} <= _artifacts(client, run.info.run_id)
    path = client.download_artifacts(run.info.run_id, drift.PROFILE_ARTIFACT, str(tmp_path))
    today = drift.profile(
        frame, features=spec.features, categorical=spec.categorical, target="kind", task=spec.task
    )
    assert json.loads(Path(path).read_text("utf-8")) == today
    assert not any(k.startswith("drift_") for k in run.data.metrics)


def test_todays_rows_are_compared_with_the_champions_profile(store, spec, tmp_path):
    _, first, client = _assess(store, spec, tmp_path, _frame())
    version = _make_champion(client, spec, first.info.run_id, tmp_path)

    same, run, _ = _assess(store, spec, tmp_path, _frame(seed=1))  # a fresh sample
    assert same.champion_version == version and same.report.level == "ok"
    assert run.data.tags["drift"] == "ok"
    assert "drift.json" in _artifacts(client, run.info.run_id)
    assert run.data.metrics["drift_psi_max"] == pytest.approx(
        same.report.metrics()["drift_psi_max"]
    )
    assert {"drift_psi_length", "drift_psi_colour", "drift_relation_length"} <= set(
        run.data.metrics
    )

    shuffled = _frame(seed=2)
    shuffled["kind"] = (
        shuffled["kind"].sample(frac=1, random_state=0).to_numpy()
    )  # a mis-joined label
    held, run, _ = _assess(store, spec, tmp_path, shuffled)
    assert held.report.level == "block" and run.data.tags["drift"] == "block"
    assert any("relation to the target" in r for r in held.report.reasons())
    assert held.hold_reasons()[0].startswith("drift above the block level")


def test_a_champion_without_a_profile_is_an_unknown_drift(store, spec, tmp_path):
    _, client, experiment = store
    bare = tracking.start_run(client, experiment, run_name="old", tags={})  # no profile logged
    _make_champion(client, spec, bare, tmp_path)
    check, run, _ = _assess(store, spec, tmp_path, _frame())
    assert check.report is None and run.data.tags["drift"] == "unknown (no reference)"
    assert "no data profile" in check.missing
    assert "drift.json" not in _artifacts(client, run.info.run_id)

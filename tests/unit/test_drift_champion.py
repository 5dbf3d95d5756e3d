"""bnpipe.drift.champion: the champion's data profile read from a real (SQLite) MLflow
store, and today's frame checked against it at the catalog entry's levels."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from bnpipe import catalog, drift, registry, tracking
from bnpipe.catalog import parse_entry


def _spec(**extra) -> catalog.DatasetSpec:
    entry = {
        "url": "https://example.com/toy.csv",
        "task": "regression",
        "target": "y",
        "features": ["x", "c"],
        "categorical": ["c"],
    }
    return parse_entry(f"toy{uuid.uuid4().hex[:8]}", {**entry, **extra})


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    c = rng.choice(["a", "b"], n)
    return pd.DataFrame({"x": x, "c": c, "y": 2 * x + (c == "a") + rng.normal(0, 0.3, n)})


def _profile(spec: catalog.DatasetSpec, frame: pd.DataFrame) -> dict:
    return drift.profile(
        frame,
        features=spec.features,
        categorical=spec.categorical,
        target=spec.target,
        task=spec.task,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """(client, experiment id) of a throwaway SQLite tracking store."""
    tmp = tmp_path_factory.mktemp("drift-champion")
    client = tracking.connect(f"sqlite:///{tmp / 'mlflow.db'}")
    return client, tracking.ensure_experiment(client, "drift-champion", (tmp / "art").as_uri())


def _champion(client, spec, tmp_path, *, tags: dict[str, str]) -> str:
    """Register v1 of the dataset's model with ``tags`` and make it @champion."""
    name = tracking.registered_model_name(spec.name)
    client.create_registered_model(name)
    (tmp_path / "model").mkdir()
    version = client.create_model_version(name, source=str(tmp_path / "model"), tags=tags).version
    client.set_registered_model_alias(name, registry.CHAMPION, version)
    return str(version)


def _run_with(client, experiment: str, profile: dict | None) -> str:
    run_id = tracking.start_run(client, experiment, run_name="parent", tags={})
    if profile is not None:
        tracking.log_json(client, run_id, profile, drift.PROFILE_ARTIFACT)
    return run_id


def test_no_champion_is_no_version_and_no_reference(store):
    client, _ = store
    assert drift.champion_reference(client, "bnpipe-nothing-here") == (None, None)
    check = drift.champion_check(client, _spec(), _frame())
    assert check.champion_version is None and check.report is None
    assert check.tag() == "none (no champion yet)" and check.hold_reasons() == []


def test_a_champion_without_a_parent_run_tag_has_no_reference(store, tmp_path):
    client, _ = store
    spec = _spec()
    version = _champion(client, spec, tmp_path, tags={})
    assert drift.champion_reference(client, tracking.registered_model_name(spec.name)) == (
        version,
        None,
    )
    check = drift.champion_check(client, spec, _frame())
    assert check.report is None and check.tag() == "unknown (no reference)"
    assert check.hold_reasons() == [check.missing] and f"champion v{version}" in check.missing


def test_a_champion_whose_run_has_no_profile_has_no_reference(store, tmp_path):
    client, experiment = store
    spec = _spec()
    run_id = _run_with(client, experiment, None)
    version = _champion(client, spec, tmp_path, tags={drift.PARENT_RUN_TAG: run_id})
    name = tracking.registered_model_name(spec.name)
    assert drift.champion_reference(client, name) == (version, None)


def test_the_champions_profile_is_read_from_its_parent_run(store, tmp_path):
    client, experiment = store
    spec, frame = _spec(), _frame()
    reference = _profile(spec, frame)
    run_id = _run_with(client, experiment, reference)
    version = _champion(client, spec, tmp_path, tags={drift.PARENT_RUN_TAG: run_id})
    name = tracking.registered_model_name(spec.name)
    assert drift.champion_reference(client, name) == (version, reference)

    same = drift.champion_check(client, spec, frame)
    assert same.champion_version == version and same.reference == reference
    assert same.report.level == "ok" and same.report.metrics()["drift_psi_max"] == 0.0
    assert same.report.block == drift.DEFAULT_LEVELS["block"]


def test_the_check_uses_the_entrys_levels_over_the_defaults(store, tmp_path):
    client, experiment = store
    spec = _spec(drift={"warn": 0.5, "block": 0.6})
    run_id = _run_with(client, experiment, _profile(spec, _frame()))
    _champion(client, spec, tmp_path, tags={drift.PARENT_RUN_TAG: run_id})
    shifted = _frame(seed=1).assign(x=lambda d: d["x"] + 1.0)  # about a 1-std shift
    check = drift.champion_check(client, spec, shifted)
    report = check.report
    assert (report.warn, report.block) == (0.5, 0.6)
    assert report.relation_block == drift.DEFAULT_LEVELS["relation_block"]
    assert report.column("x").psi > 0.6 and report.level == "block"
    assert check.tag() == "block" and check.hold_reasons()[0].startswith("drift above")


def test_the_default_levels_are_the_catalogs_drift_keys():
    assert tuple(drift.DEFAULT_LEVELS) == catalog.DRIFT_LEVELS
    spec, frame = _spec(), _frame()
    report = drift.compare(_profile(spec, frame), frame, **drift.DEFAULT_LEVELS)
    assert report.to_dict()["levels"] == drift.DEFAULT_LEVELS
    assert list(report.to_dict()["levels"]) == list(catalog.DRIFT_LEVELS)

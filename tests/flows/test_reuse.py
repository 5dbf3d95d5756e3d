"""Retrain when something changed, and only then: a comparison with the same data
bytes, catalog entry, suite, parameters and code as an earlier finished one trains
nothing, logs nothing and registers nothing; a change to any of them retrains,
and so does ``force``. (A change of code: tests/e2e/test_run_cli.py, with an
edited copy of the flows on the path.)"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from bnpipe.params import RunConfig
from bnpipe.report import format_mean_std
from bnpipe.results import ComparisonResult
from tests.contract import flow_run_artifacts

pytestmark = pytest.mark.slow

FEW = RunConfig(epochs=2, seeds=2)  # two seeds: intervals, no NaN


def all_runs(client: MlflowClient) -> list:
    exp = client.get_experiment_by_name("bn-comparison-iris")
    return client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)


def versions(client: MlflowClient) -> list[str]:
    return sorted(v.version for v in client.search_model_versions("name='bnpipe-iris'"))


@pytest.fixture(scope="module")
def store(env, tmp_path_factory, data_mirror):
    """A store of this module's own with one finished comparison of iris in it.

    The tests share it (one first run, not one per test), so each counts runs and
    versions before and after itself, and none reuses another's parameters."""
    from bnpipe.flows.bn_comparison import bn_comparison

    tmp = tmp_path_factory.mktemp("reuse")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("BNPIPE_STATE_DIR", str(tmp / "state"))
        mp.setenv("BNPIPE_DATA_MIRROR", str(data_mirror))
        first = bn_comparison(datasets=["iris"], config=FEW)["iris"]
        yield {"client": MlflowClient(uri), "first": first, "tmp": tmp}


def test_unchanged_data_trains_nothing_and_shows_the_earlier_result(store):
    from bnpipe.flows.bn_comparison import bn_comparison

    client, first = store["client"], store["first"]
    before, runs = versions(client), len(all_runs(client))
    state = bn_comparison(datasets=["iris"], config=FEW, return_state=True)

    assert state.is_completed() and state.name == "Unchanged"  # what --watch prints
    line = (
        f"iris: unchanged since run {first.run_id} (data {first.data_sha256[:12]}, "
        "same parameters and code): nothing to retrain"
    )
    assert state.message.startswith(line)
    assert f"/runs/{first.run_id}" in state.message  # a link to that run
    out = state.result()["iris"]
    assert out.outcome == "unchanged" and out.reused.earlier_outcome == first.outcome
    # the earlier result, as data: the same numbers the first run printed
    assert out.summaries == first.summaries and out.differences == first.differences
    assert out.run_id == first.run_id and out.promotion == first.promotion
    assert len(all_runs(client)) == runs  # no MLflow run, not even a skipped one
    assert versions(client) == before
    parent = client.get_run(first.run_id)
    assert parent.data.tags["comparison_key"] == out.reused.comparison_key
    kept = client.download_artifacts(first.run_id, "result.json", str(store["tmp"]))
    kept = ComparisonResult.from_dict(json.loads(Path(kept).read_text("utf-8")))
    assert kept == dataclasses.replace(first, links={})  # all of it but the links
    # The flow run says so where a person looks: the earlier table and a link to it.
    shown = flow_run_artifacts(state.state_details.flow_run_id)
    note, link = shown["bn-comparison-iris"].data, shown["mlflow-run-iris"].data
    assert note.startswith("# iris: unchanged, nothing retrained")
    assert f"[run {first.run_id}](" in note and "| test_accuracy |" in note.replace("---", "")
    assert f"| bn | {format_mean_std(first.summaries['bn']['test_accuracy'])} |" in note
    assert f"/runs/{first.run_id}" in link and "reused" in link


def retrains(store, *, same_key: bool = False, **kwargs) -> ComparisonResult:
    """The flow trains and registers again; its key differs from the first run's
    (the same key only when ``force`` made it retrain: ``same_key``)."""
    from bnpipe.flows.bn_comparison import bn_comparison

    client = store["client"]
    before = versions(client)
    out = bn_comparison(datasets=["iris"], **({"config": FEW} | kwargs))["iris"]
    assert out.outcome != "unchanged", out.reused
    assert out.run_id != store["first"].run_id
    assert len(versions(client)) == len(before) + 1  # trained and registered again
    key = client.get_run(out.run_id).data.tags["comparison_key"]
    first_key = client.get_run(store["first"].run_id).data.tags["comparison_key"]
    assert (key == first_key) is same_key, (key, first_key)
    return out


def test_a_changed_parameter_retrains(store):
    retrains(store, config=RunConfig(epochs=3, seeds=2))


def test_a_changed_suite_retrains(store, monkeypatch):
    from tests.conftest import REPO

    suites = store["tmp"] / "expectations"
    shutil.copytree(REPO / "expectations", suites)
    suite = json.loads((suites / "iris.json").read_text("utf-8"))
    suite["meta"]["notes"] += " Reviewed."  # a change of text only: still a new suite
    (suites / "iris.json").write_text(json.dumps(suite, ensure_ascii=False), "utf-8")
    monkeypatch.setenv("BNPIPE_EXPECTATIONS_DIR", str(suites))
    retrains(store)


def test_one_changed_byte_of_data_retrains(store, monkeypatch, data_mirror):
    text = (data_mirror / "iris.csv").read_text("utf-8")
    assert "\n5.1,3.5," in text
    mirror = store["tmp"] / "mirror"
    mirror.mkdir()
    # the same numbers (5.1 == 5.10), other bytes: the SHA-256 decides, not the parse
    (mirror / "iris.csv").write_text(text.replace("\n5.1,3.5,", "\n5.10,3.5,", 1), "utf-8")
    monkeypatch.setenv("BNPIPE_DATA_MIRROR", str(mirror))
    out = retrains(store)
    assert out.data_sha256 != store["first"].data_sha256


def test_a_run_that_did_not_register_does_not_stand_in_for_one_that_does(store):
    from bnpipe.flows.bn_comparison import bn_comparison

    client = store["client"]
    # a --no-register run of parameters no other test uses, then the same with registration
    config = RunConfig(epochs=4, seeds=2)
    bn_comparison(datasets=["iris"], config=config, register_model=False)
    before = versions(client)
    out = bn_comparison(datasets=["iris"], config=config)["iris"]
    assert out.outcome != "unchanged"
    assert len(versions(client)) == len(before) + 1
    # and a --no-register run after it is a repeat of work done
    again = bn_comparison(datasets=["iris"], config=config, register_model=False)["iris"]
    assert again.outcome == "unchanged" and again.run_id == out.run_id


# Last: after it, the latest finished run of the first run's work is this one.
def test_force_retrains_the_same_work(store):
    retrains(store, force=True, same_key=True)  # the same work, forced: the same key

"""tasks.reuse: the comparison key, and finding an earlier finished comparison."""

from __future__ import annotations

import dataclasses

from bnpipe import ingest, reuse, tracking
from bnpipe.catalog import get_spec, load_catalog
from bnpipe.params import RunConfig
from bnpipe.tasks.reuse import comparison_key, find_unchanged, keep_result
from tests.comparisons import a_result


def snapshot(settings, data: bytes = b"a,b\n1,2\n") -> ingest.Snapshot:
    return ingest.DataCache(settings.cache_dir).store("iris", "https://example.invalid/i.csv", data)


def test_the_key_follows_the_data_and_the_parameters(settings):
    spec = get_spec(load_catalog(settings.catalog_path), "iris")
    snap = snapshot(settings)
    key = comparison_key(spec, snap, RunConfig(epochs=2), settings)
    assert key == comparison_key(spec, snap, RunConfig(epochs=2), settings)
    assert key != comparison_key(spec, snap, RunConfig(epochs=3), settings)
    assert key != comparison_key(
        spec, snapshot(settings, b"a,b\n1,3\n"), RunConfig(epochs=2), settings
    )


def test_nothing_is_found_in_an_empty_store_and_nothing_is_created(settings):
    spec = get_spec(load_catalog(settings.catalog_path), "iris")
    assert find_unchanged.fn(spec, "0" * 16, settings, register=False) is None
    client = tracking.connect(settings.tracking_uri)
    assert client.get_experiment_by_name(tracking.experiment_name("iris")) is None


def test_a_kept_result_is_found_by_its_key_once_its_run_finished(settings, open_run):
    spec = get_spec(load_catalog(settings.catalog_path), "iris")
    parent = open_run(tracking.experiment_name("iris"), **{reuse.KEY_TAG: "k" * 16})
    earlier = dataclasses.replace(
        a_result(),
        run_id=parent.run_id,
        promotion=None,  # registered nothing
        outcome="not registered",
        links={"parent": "http://example.invalid/run"},  # not kept
    )
    keep_result(parent, earlier)
    assert find_unchanged.fn(spec, "k" * 16, settings, register=False) is None  # still RUNNING
    parent.end()

    found = find_unchanged.fn(spec, "k" * 16, settings, register=False)
    assert found.outcome == reuse.UNCHANGED and found.reused.earlier_outcome == earlier.outcome
    assert found.run_id == parent.run_id and found.reused.comparison_key == "k" * 16
    assert f"/runs/{parent.run_id}?" in found.links["parent"]
    assert found.reused.message.startswith(f"iris: unchanged since run {parent.run_id}")
    assert found.summaries == earlier.summaries
    assert found.promotion is None and found.reused.earlier_outcome == "not registered"
    # a run that registered nothing does not stand in for one that registers
    assert find_unchanged.fn(spec, "k" * 16, settings, register=True) is None
    assert find_unchanged.fn(spec, "other", settings, register=False) is None

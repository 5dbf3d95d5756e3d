"""tasks.data: download into the cache, validate against the suite (on the parent
run, refused before training), and keep a run's data as the last good copy."""

from __future__ import annotations

import dataclasses

import pytest

from bnpipe import ingest, tracking, validation
from bnpipe.tasks.data import download_dataset, keep_as_last_good, validate_dataset


def test_a_download_is_cached_and_becomes_last_good_only_when_kept(upstream):
    server, settings, spec = upstream
    snap = download_dataset.fn(spec, settings)
    assert snap.path.read_bytes() == (server.root / "iris.csv").read_bytes()
    assert snap.source == "mirror" and not snap.from_cache
    cache = ingest.DataCache(settings.cache_dir)
    assert cache.latest(spec.name) is None  # downloaded is not yet good

    keep_as_last_good.fn(snap, settings)
    assert cache.latest(spec.name).sha256 == snap.sha256


@pytest.mark.slow
def test_validate_logs_the_report_on_the_parent_run_and_refuses_bad_data(upstream, open_run):
    _, settings, spec = upstream
    snap = download_dataset.fn(spec, settings)
    parent = open_run(tracking.experiment_name(spec.name))
    frame, summary = validate_dataset.fn(spec, snap, settings, parent)
    assert len(frame) == 150 and "passed" in summary
    run = parent.client.get_run(parent.run_id)
    assert run.data.tags["validation"] == "passed" and run.data.tags["data_rows"] == "150"
    assert any(settings.reports_dir.glob(f"iris-{snap.sha256[:12]}-validation.json"))

    bad = snap.path.parent / "bad.csv"
    bad.write_text(snap.path.read_text(encoding="utf-8").replace("setosa", "", 1), "utf-8")
    bad_snap = dataclasses.replace(snap, path=bad, sha256="0" * 64)
    other = open_run(tracking.experiment_name(spec.name))
    with pytest.raises(validation.DataValidationError):
        validate_dataset.fn(spec, bad_snap, settings, other)
    assert other.client.get_run(other.run_id).data.tags["validation"] == "failed"
    parent.end()
    other.end()

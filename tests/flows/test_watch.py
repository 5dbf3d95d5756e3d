"""The bn-watch flow: a conditional request and a hash per dataset; new content
emits ``bnpipe.data.changed`` once, unchanged content emits nothing. And the
watch's path imports no TensorFlow, Great Expectations or MLflow."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO
from tests.httpfiles import ConditionalFiles

pytestmark = pytest.mark.slow


@pytest.fixture
def upstream(env, tmp_path, monkeypatch, data_mirror):
    """iris served from a folder of this test's own, a state folder of its own."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "iris.csv").write_bytes((data_mirror / "iris.csv").read_bytes())
    server = ConditionalFiles(folder)
    monkeypatch.setenv("BNPIPE_DATA_MIRROR", server.url)
    monkeypatch.setenv("BNPIPE_STATE_DIR", str(tmp_path / "state"))
    yield folder, server
    server.close()


def changed_events(sha: str, wait: float = 15.0) -> list:
    """``bnpipe.data.changed`` events about content ``sha`` (waits for the first)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)
    deadline = time.monotonic() + wait
    while True:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                EventFilter(event=EventNameFilter(name=["bnpipe.data.changed"])), limit=50
            )
        found = [e for e in page.events if e.payload.get("new_sha256") == sha]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_the_watch_announces_new_content_once_and_304s_otherwise(upstream):
    from bnpipe.flows.bn_watch import bn_watch

    folder, server = upstream
    good = (folder / "iris.csv").read_bytes()
    # a new stack's first look: recorded, not news (nothing trained or announced yet)
    first = bn_watch(datasets=["iris"])["iris"]
    sha = hashlib.sha256(good).hexdigest()
    assert first["first"] and not first["changed"] and first["new_sha256"] == sha
    assert changed_events(sha, wait=2) == []

    # unchanged: a 304 and no body, no event
    served = server.bytes_served
    again = bn_watch(datasets=["iris"])["iris"]
    assert not again["changed"] and not again["first"] and again["not_modified"]
    assert server.bytes_served == served and server.answers[-1] == ("/iris.csv", 304)
    assert changed_events(sha, wait=2) == []

    # one byte more: announced, with the old and the new SHA-256
    (folder / "iris.csv").write_bytes(good + b"\n")
    new_sha = hashlib.sha256(good + b"\n").hexdigest()
    changed = bn_watch(datasets=["iris"])["iris"]
    assert changed["changed"] and changed["old_sha256"] == sha
    [event] = changed_events(new_sha)
    assert event.resource.id == "bnpipe.dataset.iris" and event.payload["old_sha256"] == sha
    assert not bn_watch(datasets=["iris"])["iris"]["changed"]  # announced once


def test_content_the_last_run_trained_on_is_not_news(upstream, tmp_path):
    """A cache whose last good copy is what the upstream serves: nothing to announce."""
    from bnpipe import ingest
    from bnpipe.catalog import get_spec, load_catalog
    from bnpipe.flows.bn_watch import bn_watch
    from bnpipe.settings import load_settings

    settings = load_settings()
    spec = get_spec(load_catalog(settings.catalog_path), "iris")
    snap = ingest.download(spec, ingest.DataCache(settings.cache_dir), mirror=settings.data_mirror)
    assert ingest.DataCache(settings.cache_dir).latest("iris").sha256 == snap.sha256
    result = bn_watch(datasets=["iris"])["iris"]
    assert not result["changed"] and result["old_sha256"] == snap.sha256


def test_an_unreachable_upstream_fails_the_watch_in_one_line(upstream, monkeypatch):
    from bnpipe.flows.bn_watch import bn_watch

    folder, server = upstream
    (folder / "iris.csv").unlink()
    monkeypatch.setenv("BNPIPE_DOWNLOAD_RETRY_DELAY", "0")
    with pytest.raises(Exception, match=r"iris: .*404"):
        bn_watch(datasets=["iris"])


def test_the_watch_path_imports_no_tensorflow_gx_or_mlflow(tmp_path, data_mirror):
    code = textwrap.dedent(
        """
        import json, sys
        import bnpipe.flows.bn_watch  # the flow module and its task
        from bnpipe import watch
        from bnpipe.catalog import get_spec, load_catalog
        from bnpipe.settings import load_settings

        settings = load_settings()
        result = watch.check(get_spec(load_catalog(settings.catalog_path), "iris"), settings)
        heavy = [m for m in ("tensorflow", "keras", "great_expectations", "mlflow", "dask")
                 if m in sys.modules]
        print(json.dumps({"changed": result.changed, "heavy": heavy}))
        """
    )
    env = {
        **os.environ,
        "BNPIPE_DATA_MIRROR": str(data_mirror),
        "BNPIPE_STATE_DIR": str(tmp_path / "state"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"changed": False, "heavy": []}

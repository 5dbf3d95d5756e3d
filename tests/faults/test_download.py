"""Download faults not already in tests/unit/test_ingest.py.

Covered there (not repeated): retries with exponential backoff, 404 not retried,
5xx/408/429/timeouts/refused connections retried, HTML and empty and truncated
bodies rejected, an oversized Content-Length, a failed download leaving the cache
untouched, a pin mismatch, offline mode in the core, credentials kept out of errors.

Here: the size cap when no Content-Length is sent and on file URLs, the
BNPIPE_MAX_DOWNLOAD_MB setting end to end, credentials in a mirror URL, and
``bnpipe validate --offline`` as a process with the mirror down.
"""

from __future__ import annotations

import base64
import os
import subprocess

import pytest

from bnpipe import ingest
from bnpipe.catalog import DatasetSpec
from bnpipe.ops.cli import main
from tests.faults.conftest import (
    BNPIPE,
    REPO,
    dead_port,
    latest_sha,
    make_project,
    seed_cache,
    sha256,
)
from tests.httpfiles import Reply

GOOD = b"a,b,y\n" + b"1,2,3\n" * 400  # 2406 bytes


@pytest.fixture
def server(loopback):
    """``/big.csv`` without a Content-Length (body ends at close), ``/moved.csv``
    redirects to ``/toy.csv``; ``requests`` records each request's Authorization."""
    srv = loopback()
    srv.route("/big.csv", Reply(200, GOOD, kind="nolength"))
    srv.route("/moved.csv", Reply(302, headers={"Location": "/toy.csv"}))
    srv.route("/toy.csv", Reply(200, GOOD))
    return srv


def toy(url: str) -> DatasetSpec:
    return DatasetSpec(name="toy", url=url, task="regression", target="y", features=("a", "b"))


# --------------------------------------------------------------------------- size cap


def test_the_size_cap_holds_without_a_content_length_and_is_not_retried(server, tmp_path):
    cache = ingest.DataCache(tmp_path / "cache")
    before = cache.store("toy", "https://example.com/toy.csv", b"a,b,y\n1,2,3\n")
    sleeps = []
    with pytest.raises(ingest.DownloadError) as err:
        ingest.download(
            toy(server.base + "/big.csv"),
            cache,
            retries=3,
            max_bytes=1000,
            log=lambda m: None,
            sleep=sleeps.append,
        )
    assert (
        str(err.value)
        == f"toy: download failed: {server.base}/big.csv: body exceeds the 1000 byte cap"
    )
    assert err.value.transient is False
    assert [path for path, _ in server.requests] == ["/big.csv"] and sleeps == []  # one attempt
    assert cache.latest("toy").sha256 == before.sha256


def test_the_size_cap_holds_for_file_urls(tmp_path):
    path = tmp_path / "toy.csv"
    path.write_bytes(GOOD)
    with pytest.raises(ingest.DownloadError, match=r"file is larger than the 1000 byte cap") as err:
        ingest.fetch(path.as_uri(), max_bytes=1000)
    assert err.value.transient is False
    assert ingest.fetch(path.as_uri(), max_bytes=len(GOOD)) == GOOD  # the cap itself is allowed


def test_max_download_mb_reaches_bnpipe_validate(mirror, data_mirror, tmp_path, capsys):
    saved = dict(os.environ)
    try:
        os.environ.update(make_project(tmp_path, mirror.url))
        os.environ["BNPIPE_MAX_DOWNLOAD_MB"] = "0.01"  # 10485 bytes; boston.csv is ~35 KB
        good = seed_cache(dict(os.environ), "boston", (data_mirror / "boston.csv").read_bytes())
        assert main(["validate", "boston"]) == 1
        err = capsys.readouterr().err
        size = (data_mirror / "boston.csv").stat().st_size
        assert err.splitlines() == [
            f"bnpipe: error: boston: download failed: {mirror.url}/boston.csv: "
            f"body of {size} bytes exceeds the 10485 byte cap",
            "(run with --debug for the traceback)",
        ]
        assert latest_sha(dict(os.environ), "boston") == good
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --------------------------------------------------------------------------- credentials


def test_credentials_in_a_url_are_sent_as_basic_auth_but_not_to_a_redirect(server):
    url = server.base.replace("://", "://alice:p%40ss@") + "/moved.csv"
    assert ingest.fetch(url, timeout=5) == GOOD
    token = "Basic " + base64.b64encode(b"alice:p@ss").decode()
    assert server.requests == [("/moved.csv", token), ("/toy.csv", None)]


# --------------------------------------------------------------------------- offline, end to end


@pytest.mark.slow
@pytest.mark.e2e
def test_validate_offline_uses_the_last_good_download_when_the_mirror_is_down(
    mirror, data_mirror, tmp_path
):
    env = make_project(tmp_path, mirror.url)
    spec = DatasetSpec(
        name="boston",
        url="https://example.invalid/boston.csv",
        task="regression",
        target="medv",
        features=("crim",),
    )
    good = ingest.download(
        spec, ingest.DataCache(tmp_path / "state" / "cache"), mirror=mirror.url, log=lambda m: None
    )
    assert good.sha256 == sha256((data_mirror / "boston.csv").read_bytes())

    down = f"http://127.0.0.1:{dead_port()}"
    env["BNPIPE_DATA_MIRROR"] = down

    offline = subprocess.run(
        [str(BNPIPE), "validate", "boston", "--offline"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert offline.returncode == 0, offline.stderr
    assert offline.stderr.splitlines()[0] == (
        f"warning: boston: offline, using the cached copy {good.sha256[:12]} from {good.fetched_at}"
    )
    assert "boston: validation passed (73 expectations, 506 rows)" in offline.stdout
    assert "Traceback" not in offline.stderr
    assert latest_sha(env, "boston") == good.sha256

"""bnpipe.ingest: fetch, CSV checks, the content-addressed cache, retries and offline mode.

HTTP cases run against the tests' loopback server (``tests.httpfiles``) whose
answers each test scripts, or which serves a folder with conditional requests; ``sleep`` is injected so backoff never waits.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import socket
from pathlib import Path

import pytest

from bnpipe import ingest
from bnpipe.catalog import Bundled, DatasetSpec
from bnpipe.ingest import (
    DataCache,
    DownloadError,
    Snapshot,
    check_csv,
    download,
    fetch,
    fetching,
    read_csv,
    redact,
)
from tests.httpfiles import Reply, dead_port

GOOD = b"a,b,y\n1,2,3\n4,5,6\n7,8,9\n"
GOOD_V2 = b"a,b,y\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n"
HTML = b"<!DOCTYPE html>\n<html><head><title>Rate limited</title></head><body>nope</body></html>\n"


# --------------------------------------------------------------------------- the scripted server


@pytest.fixture
def server(loopback):
    return loopback()


@pytest.fixture
def refused_url() -> str:
    """A loopback port nothing listens on: connections are refused."""
    return f"http://127.0.0.1:{dead_port()}/toy.csv"


@pytest.fixture
def cache(tmp_path) -> DataCache:
    return DataCache(tmp_path / "cache")


class Recorder:
    def __init__(self):
        self.messages: list[str] = []
        self.sleeps: list[float] = []

    def log(self, message: str) -> None:
        self.messages.append(message)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def spec_for(url: str, name: str = "toy", sha256: str | None = None) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        url=url,
        task="regression",
        target="y",
        features=("a", "b"),
        sha256=sha256,
    )


def get(spec, cache, rec, **kw) -> Snapshot:
    kw.setdefault("retries", 3)
    kw.setdefault("retry_delay", 1.0)
    kw.setdefault("timeout", 5.0)
    return download(spec, cache, log=rec.log, sleep=rec.sleep, **kw)


def cache_state(cache: DataCache, dataset: str) -> dict[str, bytes]:
    folder = cache.root / dataset
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


# --------------------------------------------------------------------------- redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@example.com/a/b.csv?token=abc#x", "https://example.com/a/b.csv"),
        ("http://127.0.0.1:8000/boston.csv?sig=1", "http://127.0.0.1:8000/boston.csv"),
        ("file:///srv/data/iris.csv", "file:///srv/data/iris.csv"),
    ],
)
def test_redact_drops_credentials_and_query(url, shown):
    assert redact(url) == shown


def test_redact_keeps_ipv6_brackets():
    assert redact("http://user:pw@[::1]:8080/x.csv?t=1") == "http://[::1]:8080/x.csv"


# --------------------------------------------------------------------------- check_csv


def test_check_csv_counts_data_rows():
    assert check_csv(GOOD, dataset="toy", url="file:///t.csv") == 3
    # a BOM, CRLF line ends, trailing blank lines and a quoted comma are all fine
    body = '\ufeffa,b,y\r\n1,"2,5",3\r\n4,5,6\r\n\r\n\r\n'.encode()
    assert check_csv(body, dataset="toy", url="file:///t.csv") == 2


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"", "empty body"),
        (b"  \n\n ", "empty body"),
        (HTML, "HTML/XML page"),
        (b"\n  <html><body>502 Bad Gateway</body></html>", "HTML/XML page"),
        (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', "HTML/XML page"),
        (b"a,b,y\n1,\x00\x01,3\n", "binary content"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        ("a,b,y\n1,2,caf\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b"a,b,y\n", "header only"),
        (b"a,b,y\n1,2,3\n4,5\n6,7,8\n", "line 3 has 2 fields, the header has 3"),
    ],
)
def test_check_csv_rejects_what_is_not_a_csv(body, rule):
    with pytest.raises(DownloadError) as err:
        check_csv(body, dataset="boston", url="https://u:p@example.com/boston.csv?k=s")
    message = str(err.value)
    assert rule in message
    assert message.startswith("boston: https://example.com/boston.csv: ")  # dataset + URL
    assert "u:p" not in message and "k=s" not in message
    assert err.value.transient is False


def test_a_ragged_last_line_is_a_truncated_body_worth_retrying():
    with pytest.raises(
        DownloadError, match=r"line 3 has 2 fields, the header has 3 \(truncated body\?\)"
    ) as err:
        check_csv(b"a,b,y\n1,2,3\n4,5", dataset="boston", url="http://h/boston.csv")
    assert err.value.transient is True


def test_check_csv_flags_a_cut_last_row_as_truncated():
    with pytest.raises(DownloadError, match=r"line 4 has 2 fields.*\(truncated body\?\)"):
        check_csv(b"a,b,y\n1,2,3\n4,5,6\n7,8", dataset="toy", url="file:///t.csv")
    with pytest.raises(DownloadError) as err:  # a ragged middle row is not "truncated"
        check_csv(b"a,b,y\n1,2\n4,5,6\n", dataset="toy", url="file:///t.csv")
    assert "truncated" not in str(err.value)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_check_csv_reads_the_catalogs_separator(sep):
    body = f"\ufeffa{sep}b{sep}y\r\n1{sep}2,5{sep}3\r\n4{sep}5{sep}6\r\n".encode()
    assert check_csv(body, dataset="toy", url="file:///t.csv", sep=sep) == 2
    with pytest.raises(DownloadError, match="line 2 has 2 fields, the header has 1"):
        check_csv(f"a\n1{sep}2\n".encode(), dataset="toy", url="file:///t.csv", sep=sep)


@pytest.mark.parametrize(
    ("body", "sep", "message"),
    [
        (
            b"a;b;y\n1,5;2;3\n",
            ",",
            "toy: https://example.com/t.csv: the header has one field but contains ';': the "
            "file looks ';'-separated; set sep: ';' in the catalog",
        ),
        (
            b"\xef\xbb\xbfa\tb\ty\r\n1\t2\t3\r\n",
            ",",
            "the header has one field but contains '\\t': the file looks '\\t'-separated; "
            'set sep: "\\t" in the catalog',
        ),
        (
            b"a,b,y\n1,2,3\n",
            ";",
            "the header has one field but contains ',': the file looks ','-separated; "
            "set sep: ',' in the catalog",
        ),
        (
            b"a|b|y\n",  # refused for the separator before "header only"
            ",",
            "the file looks '|'-separated; set sep: '|' in the catalog",
        ),
    ],
)
def test_check_csv_refuses_a_header_separated_by_another_character(body, sep, message):
    with pytest.raises(DownloadError) as err:
        check_csv(body, dataset="toy", url="https://example.com/t.csv", sep=sep)
    assert message in str(err.value)
    assert err.value.transient is False  # another download would not help


def test_a_one_column_csv_is_fine():
    assert check_csv(b"y\n1\n2\n", dataset="toy", url="file:///t.csv") == 2


def test_read_csv_takes_the_separator(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffa;b;y\r\n1,5;x;3\r\n".encode())
    df = ingest.read_csv(path, sep=";")
    assert list(df.columns) == ["a", "b", "y"] and df.loc[0, "b"] == "x"
    assert list(ingest.read_csv(path).columns) == ["a;b;y"]  # the default is ","


# --------------------------------------------------------------------------- fetch


def test_fetch_file_url(tmp_path):
    path = tmp_path / "dir with space" / "toy.csv"
    path.parent.mkdir()
    path.write_bytes(GOOD)
    assert fetch(path.as_uri()) == GOOD


def test_fetch_file_errors_are_permanent(tmp_path):
    with pytest.raises(DownloadError, match="no such file") as err:
        fetch((tmp_path / "missing.csv").as_uri())
    assert err.value.transient is False
    big = tmp_path / "big.csv"
    big.write_bytes(GOOD)
    with pytest.raises(DownloadError, match="larger than the 10 byte cap") as err:
        fetch(big.as_uri(), max_bytes=10)
    assert err.value.transient is False


def test_fetch_rejects_other_schemes():
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        fetch("ftp://example.com/x.csv")


def test_fetch_http_ok(server):
    url = server.route("/toy.csv", Reply(200, GOOD))
    assert fetch(url, timeout=5) == GOOD
    assert server.hits["/toy.csv"] == 1


@pytest.mark.parametrize(
    ("status", "transient"),
    [(404, False), (403, False), (410, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_fetch_classifies_http_errors(server, status, transient):
    url = server.route("/toy.csv", Reply(status, b"error"))
    with pytest.raises(DownloadError, match=f"HTTP {status}") as err:
        fetch(url, timeout=5)
    assert err.value.transient is transient
    assert url in str(err.value)


def test_fetch_truncated_body_is_transient(server):
    url = server.route("/toy.csv", Reply(200, GOOD, kind="truncate"))
    with pytest.raises(DownloadError, match=rf"truncated body \({len(GOOD)} of") as err:
        fetch(url, timeout=5)
    assert err.value.transient is True


def test_fetch_oversized_content_length_is_permanent(server):
    url = server.route("/toy.csv", Reply(200, GOOD))
    with pytest.raises(DownloadError, match="exceeds the 10 byte cap") as err:
        fetch(url, timeout=5, max_bytes=10)
    assert err.value.transient is False


def test_fetch_timeout_is_transient(server):
    url = server.route("/toy.csv", Reply(kind="slow"))
    with pytest.raises(DownloadError, match="timed out") as err:
        fetch(url, timeout=0.2)
    assert err.value.transient is True


def test_fetch_connection_refused_is_transient(refused_url):
    with pytest.raises(DownloadError, match="refused") as err:
        fetch(refused_url, timeout=2)
    assert err.value.transient is True
    assert refused_url in str(err.value)


def test_fetch_ignores_a_malformed_content_length(server):
    """An unparsable Content-Length is treated as absent (http.client's view): the
    body is read to its end and judged by check_csv, not a bare ValueError."""
    url = server.route("/toy.csv", Reply(200, GOOD, kind="badlen"))
    assert fetch(url, timeout=5) == GOOD


# --------------------------------------------------------------------------- DataCache


def test_cache_is_content_addressed_with_a_latest_pointer(cache):
    assert cache.latest("toy") is None
    first = cache.store("toy", "https://u:p@example.com/toy.csv?k=1", GOOD)
    digest = hashlib.sha256(GOOD).hexdigest()
    assert first.sha256 == digest and first.size == len(GOOD)
    assert first.path == cache.root / "toy" / f"{digest}.csv"
    assert first.path.read_bytes() == GOOD
    assert first.url == "https://example.com/toy.csv"  # never stores credentials
    assert first.from_cache is False

    latest = cache.latest("toy")
    assert latest is not None and latest.from_cache is True
    assert (latest.sha256, latest.path, latest.size) == (digest, first.path, len(GOOD))

    second = cache.store("toy", "https://example.com/toy.csv", GOOD_V2)
    assert second.sha256 != first.sha256
    assert cache.latest("toy").sha256 == second.sha256
    assert first.path.read_bytes() == GOOD  # older copies are kept
    pointer = json.loads((cache.root / "toy" / "latest.json").read_text())
    assert pointer["sha256"] == second.sha256
    assert {p.name for p in (cache.root / "toy").iterdir()} == {
        f"{first.sha256}.csv",
        f"{second.sha256}.csv",
        "latest.json",
    }  # no temp files left behind


def test_cache_storing_the_same_bytes_twice_reuses_the_file(cache):
    a = cache.store("toy", "file:///t.csv", GOOD)
    mtime = a.path.stat().st_mtime_ns
    b = cache.store("toy", "file:///t.csv", GOOD)
    assert a.path == b.path and b.path.stat().st_mtime_ns == mtime


def test_cache_latest_is_none_when_the_file_is_gone(cache):
    snap = cache.store("toy", "file:///t.csv", GOOD)
    snap.path.unlink()
    assert cache.latest("toy") is None


def test_cache_keeps_datasets_apart(cache):
    cache.store("a", "file:///a.csv", GOOD)
    cache.store("b", "file:///b.csv", GOOD_V2)
    assert cache.latest("a").path.read_bytes() == GOOD
    assert cache.latest("b").path.read_bytes() == GOOD_V2


def test_snapshot_to_dict_is_json_ready(cache):
    snap = cache.store("toy", "file:///t.csv", GOOD)
    d = json.loads(json.dumps(snap.to_dict()))
    assert d["path"] == str(snap.path) and d["sha256"] == snap.sha256 and d["dataset"] == "toy"


# --------------------------------------------------------------------------- download: success


def test_download_stores_and_returns_the_snapshot(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, GOOD))
    snap = get(spec_for(url), cache, rec)
    assert snap.sha256 == hashlib.sha256(GOOD).hexdigest()
    assert snap.path.read_bytes() == GOOD
    assert cache.latest("toy").sha256 == snap.sha256
    assert server.hits["/toy.csv"] == 1
    assert rec.sleeps == [] and rec.messages == []


def test_download_uses_the_http_mirror(server, cache, rec):
    server.route("/mirror/toy.csv", Reply(200, GOOD))
    spec = spec_for("https://upstream.invalid/toy.csv")
    snap = get(spec, cache, rec, mirror=server.base + "/mirror/")
    assert snap.url == server.base + "/mirror/toy.csv"
    assert server.hits["/mirror/toy.csv"] == 1


def test_download_from_the_real_data_mirror(data_mirror, cache, rec):
    spec = spec_for("https://upstream.invalid/boston.csv", name="boston")
    snap = get(spec, cache, rec, mirror=str(data_mirror))
    raw = (data_mirror / "boston.csv").read_bytes()
    assert snap.sha256 == hashlib.sha256(raw).hexdigest()
    assert snap.url == (data_mirror / "boston.csv").as_uri()
    assert check_csv(raw, dataset="boston", url=snap.url) == 506
    df = read_csv(snap.path)
    assert df.shape == (506, 14) and df.columns[-1] == "medv"


def test_download_with_a_matching_pin(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, GOOD))
    snap = get(spec_for(url, sha256=hashlib.sha256(GOOD).hexdigest()), cache, rec)
    assert snap.path.read_bytes() == GOOD


# --------------------------------------------------------------------------- download: retries


def test_download_retries_5xx_with_exponential_backoff(server, cache, rec):
    url = server.route("/toy.csv", Reply(500, b"oops"), Reply(503, b"busy"), Reply(200, GOOD))
    snap = get(spec_for(url), cache, rec, retries=3, retry_delay=0.5)
    assert snap.path.read_bytes() == GOOD
    assert server.hits["/toy.csv"] == 3
    assert rec.sleeps == [0.5, 1.0]  # doubled each retry
    assert len(rec.messages) == 2
    assert "retry 1 of 3" in rec.messages[0] and "HTTP 500" in rec.messages[0]
    assert "retry 2 of 3" in rec.messages[1] and "HTTP 503" in rec.messages[1]
    assert all(m.startswith("toy: ") for m in rec.messages)


def test_download_gives_up_after_the_retries(server, cache, rec):
    url = server.route("/toy.csv", Reply(500, b"oops"))
    with pytest.raises(DownloadError) as err:
        get(spec_for(url), cache, rec, retries=2, retry_delay=1.0)
    message = str(err.value)
    assert server.hits["/toy.csv"] == 3  # the first attempt plus two retries
    assert rec.sleeps == [1.0, 2.0]
    assert message.startswith("toy: download failed after 3 attempts: ")
    assert url in message and "HTTP 500" in message


def test_download_does_not_retry_a_404(server, cache, rec):
    url = server.route("/toy.csv", Reply(404, b"missing"))
    with pytest.raises(DownloadError) as err:
        get(spec_for(url), cache, rec, retries=3)
    assert server.hits["/toy.csv"] == 1
    assert rec.sleeps == []
    message = str(err.value)
    assert message.startswith("toy: download failed: ")
    assert url in message and "HTTP 404" in message
    assert "attempts" not in message


def test_download_does_not_retry_an_html_page(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, HTML))
    with pytest.raises(DownloadError, match="HTML/XML page") as err:
        get(spec_for(url), cache, rec, retries=3)
    assert server.hits["/toy.csv"] == 1 and rec.sleeps == []
    assert "toy" in str(err.value) and url in str(err.value)


def test_download_retries_a_truncated_body(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, GOOD, kind="truncate"), Reply(200, GOOD))
    snap = get(spec_for(url), cache, rec, retries=3)
    assert server.hits["/toy.csv"] == 2 and rec.sleeps == [1.0]
    assert "truncated body" in rec.messages[0]
    assert snap.path.read_bytes() == GOOD


def test_download_timeout_is_retried_then_fails(server, cache, rec):
    url = server.route("/toy.csv", Reply(kind="slow"))
    with pytest.raises(DownloadError) as err:
        get(spec_for(url), cache, rec, retries=1, timeout=0.2)
    assert server.hits["/toy.csv"] == 2
    assert rec.sleeps == [1.0]
    message = str(err.value)
    assert "toy: download failed after 2 attempts" in message
    assert url in message and "timed out" in message


def test_download_connection_refused_is_retried_once_quickly(refused_url, cache, rec):
    """No network: one more try at once, not the backoff meant for a busy server."""
    with pytest.raises(DownloadError) as err:
        get(spec_for(refused_url), cache, rec, retries=3, retry_delay=1.0)
    assert rec.sleeps == [ingest.UNREACHABLE_RETRY_DELAY]
    assert len(rec.messages) == 1
    message = str(err.value)
    assert "toy: download failed after 2 attempts" in message
    assert refused_url in message and "refused" in message
    assert err.value.unreachable and err.value.transient


@pytest.mark.parametrize(
    ("reason", "unreachable"),
    [
        (socket.gaierror(-2, "Name or service not known"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), True),
        (TimeoutError("timed out"), False),
        (ConnectionResetError(104, "Connection reset by peer"), False),
    ],
)
def test_which_network_errors_mean_unreachable(reason, unreachable):
    assert fetching._unreachable(reason) is unreachable


def test_download_with_zero_retries_tries_once(server, cache, rec):
    url = server.route("/toy.csv", Reply(503, b"busy"))
    with pytest.raises(DownloadError, match="HTTP 503"):
        get(spec_for(url), cache, rec, retries=0)
    assert server.hits["/toy.csv"] == 1 and rec.sleeps == []


def test_download_errors_never_show_credentials(server, cache, rec):
    server.route("/toy.csv", Reply(404, b"missing"))
    url = server.base.replace("://", "://alice:hunter2@") + "/toy.csv?token=s3cret"
    with pytest.raises(DownloadError) as err:
        get(spec_for(url), cache, rec)
    message = str(err.value)
    assert "hunter2" not in message and "s3cret" not in message and "alice" not in message
    assert server.base + "/toy.csv" in message


# --------------------------------------------------------------------------- download: nothing lost


@pytest.mark.parametrize(
    "replies",
    [
        [Reply(404, b"missing")],
        [Reply(500, b"oops")],
        [Reply(200, HTML)],
        [Reply(200, b"")],
        [Reply(200, GOOD, kind="truncate")],
        [Reply(200, b"a,b,y\n1,2,3\n4,5")],
    ],
    ids=["404", "500", "html", "empty", "truncated", "ragged"],
)
def test_a_failed_download_leaves_the_cache_untouched(server, cache, rec, replies):
    previous = cache.store("toy", "https://example.com/toy.csv", GOOD)
    before = cache_state(cache, "toy")
    url = server.route("/toy.csv", *replies)
    with pytest.raises(DownloadError, match="toy: download failed"):
        get(spec_for(url), cache, rec, retries=1)
    assert cache_state(cache, "toy") == before  # same files, same bytes, same pointer
    latest = cache.latest("toy")
    assert latest.sha256 == previous.sha256 and latest.path.read_bytes() == GOOD


def test_a_pin_mismatch_is_rejected_and_not_cached(server, cache, rec):
    cache.store("toy", "https://example.com/toy.csv", GOOD)
    before = cache_state(cache, "toy")
    url = server.route("/toy.csv", Reply(200, GOOD_V2))
    pin = hashlib.sha256(GOOD).hexdigest()
    with pytest.raises(DownloadError) as err:
        get(spec_for(url, sha256=pin), cache, rec)
    message = str(err.value)
    assert message.startswith("toy: ")
    assert url in message and pin in message and hashlib.sha256(GOOD_V2).hexdigest() in message
    assert cache_state(cache, "toy") == before
    assert server.hits["/toy.csv"] == 1  # a pin mismatch is not retried


def test_a_failed_download_into_an_empty_cache_creates_nothing(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, HTML))
    with pytest.raises(DownloadError):
        get(spec_for(url), cache, rec)
    assert cache.latest("toy") is None
    assert cache_state(cache, "toy") == {}


# --------------------------------------------------------------------------- download: offline


def test_offline_uses_the_cached_copy_with_a_warning(server, cache, rec):
    stored = cache.store("toy", "https://example.com/toy.csv", GOOD)
    url = server.route("/toy.csv", Reply(200, GOOD_V2))
    snap = get(spec_for(url), cache, rec, offline=True)
    assert server.hits["/toy.csv"] == 0  # no network at all
    assert snap.from_cache is True
    assert snap.sha256 == stored.sha256 and snap.path.read_bytes() == GOOD
    assert len(rec.messages) == 1
    warning = rec.messages[0]
    assert warning.startswith("warning: toy: offline") and stored.sha256[:12] in warning


def test_offline_without_a_cached_copy_fails(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, GOOD))
    with pytest.raises(DownloadError, match="toy: offline, and no cached copy"):
        get(spec_for(url), cache, rec, offline=True)
    assert server.hits["/toy.csv"] == 0


def test_offline_after_a_failed_download_still_has_the_last_good_copy(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, GOOD), Reply(200, HTML))
    good = get(spec_for(url), cache, rec)
    with pytest.raises(DownloadError):
        get(spec_for(url), cache, rec)
    snap = get(spec_for(url), cache, rec, offline=True)
    assert snap.sha256 == good.sha256 and Path(snap.path).read_bytes() == GOOD


# --------------------------------------------------------------------------- download: fallback


def bundled_spec(url: str) -> DatasetSpec:
    """A toy entry whose bundled copy is the package's iris.csv (its real digest)."""
    data = ingest.bundled_bytes("iris.csv")
    return dataclasses.replace(
        spec_for(url), bundled=Bundled("iris.csv", hashlib.sha256(data).hexdigest())
    )


def test_a_download_says_where_its_bytes_came_from(server, cache, rec):
    url = server.route("/toy.csv", Reply(200, GOOD), Reply(200, GOOD))
    assert get(spec_for(url), cache, rec).source == "upstream"
    mirrored = get(spec_for("https://example.invalid/toy.csv"), cache, rec, mirror=server.base)
    assert mirrored.source == "mirror"
    assert cache.latest("toy").source == "cache"


def test_fallback_to_the_last_good_copy_when_upstream_is_unreachable(refused_url, cache, rec):
    stored = cache.store("toy", "https://example.com/toy.csv", GOOD)
    snap = get(bundled_spec(refused_url), cache, rec, fallback=True)
    assert snap.source == "cache" and snap.sha256 == stored.sha256
    warning = rec.messages[-1]
    assert warning.startswith(f"warning: toy: upstream {refused_url} cannot be reached (")
    assert "Connection refused" in warning
    assert f"using the last good cached copy {stored.sha256[:12]}" in warning


def test_fallback_to_the_bundled_copy_when_the_cache_is_empty(refused_url, cache, rec):
    spec = bundled_spec(refused_url)
    snap = get(spec, cache, rec, fallback=True)
    assert snap.source == "bundled" and snap.sha256 == spec.bundled.sha256
    assert snap.path.read_bytes() == ingest.bundled_bytes("iris.csv")
    assert snap.url == "package:bnpipe/data/iris.csv"
    assert "using the bundled copy" in rec.messages[-1]
    assert cache.latest("toy") is None  # validation, not the fallback, makes it the last good copy


def test_a_damaged_last_good_copy_is_passed_over_for_the_bundled_one(refused_url, cache, rec):
    stored = cache.store("toy", "https://example.com/toy.csv", GOOD)
    stored.path.write_bytes(GOOD_V2)  # the bytes no longer match their name
    snap = get(bundled_spec(refused_url), cache, rec, fallback=True)
    assert snap.source == "bundled"


def test_no_fallback_unless_asked_for(refused_url, cache, rec):
    cache.store("toy", "https://example.com/toy.csv", GOOD)
    with pytest.raises(DownloadError, match="Connection refused"):
        get(bundled_spec(refused_url), cache, rec)


def test_a_mirror_that_is_down_never_falls_back(refused_url, cache, rec):
    mirror = refused_url.rpartition("/")[0]
    with pytest.raises(DownloadError, match="Connection refused"):
        get(
            bundled_spec("https://example.invalid/toy.csv"),
            cache,
            rec,
            mirror=mirror,
            fallback=True,
        )
    assert cache.latest("toy") is None


def test_bad_bytes_from_a_reachable_upstream_never_fall_back(server, cache, rec):
    url = server.route("/toy.csv", Reply(404, b"missing"))
    with pytest.raises(DownloadError, match="HTTP 404"):
        get(bundled_spec(url), cache, rec, fallback=True)


def test_a_bundled_copy_that_does_not_match_its_digest_is_refused(refused_url, cache, rec):
    spec = dataclasses.replace(spec_for(refused_url), bundled=Bundled("iris.csv", "0" * 64))
    with pytest.raises(DownloadError, match="the bundled copy iris.csv has sha256 .*reinstall"):
        get(spec, cache, rec, fallback=True)


def test_without_a_bundled_copy_or_a_cache_the_download_error_stands(refused_url, cache, rec):
    with pytest.raises(DownloadError, match="download failed after 2 attempts"):
        get(spec_for(refused_url), cache, rec, fallback=True)


GOOD_CSV = b"a,b,y\n" + b"1,2,3\n" * 50


STAMP = "Wed, 02 Dec 2026 10:00:00 GMT"


def conditional(loopback, tmp_path, **options):
    """A loopback server of a folder holding toy.csv (GOOD_CSV); its URL."""
    srv = loopback(tmp_path / "served", last_modified=STAMP, **options)
    srv.put("toy.csv", GOOD_CSV)
    return srv, srv.url + "/toy.csv"


def test_an_unchanged_upstream_answers_304_and_the_cached_bytes_are_used(
    loopback, tmp_path, cache, rec
):
    srv, url = conditional(loopback, tmp_path)
    first = get(spec_for(url), cache, rec)
    second = get(spec_for(url), cache, rec)
    assert srv.answers == [("/toy.csv", 200), ("/toy.csv", 304)]
    assert srv.bytes_served == len(GOOD_CSV)
    assert second.sha256 == first.sha256 and second.path.read_bytes() == GOOD_CSV
    assert any("HTTP 304" in m for m in rec.messages)
    srv.put("toy.csv", GOOD_CSV + b"4,5,6\n")  # a changed upstream: a full answer, a new hash
    third = get(spec_for(url), cache, rec)
    assert srv.answers[-1] == ("/toy.csv", 200) and third.sha256 != first.sha256
    assert cache.validators("toy", url)["sha256"] == third.sha256


def test_validators_are_dropped_with_their_bytes_and_a_server_without_them_gets_full_downloads(
    loopback, tmp_path, cache, rec
):
    srv, url = conditional(loopback, tmp_path / "with")
    first = get(spec_for(url), cache, rec)
    first.path.unlink()  # the bytes a 304 would mean are gone: ask unconditionally
    assert cache.validators("toy", url) is None
    get(spec_for(url), cache, rec)
    assert [status for _, status in srv.answers] == [200, 200]
    plain, url = conditional(loopback, tmp_path / "without", validators=False)
    get(spec_for(url), cache, rec)
    get(spec_for(url), cache, rec)
    assert [status for _, status in plain.answers] == [200, 200]
    assert plain.bytes_served == 2 * len(GOOD_CSV)

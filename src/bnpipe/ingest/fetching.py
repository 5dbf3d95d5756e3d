"""Download a dataset's CSV, check it is a CSV, and keep it content-addressed.

The SHA-256 of the downloaded bytes is both the cache key and the lineage id
logged on every run. A download that fails or is not a well-formed CSV never
touches the cache, so the last good copy survives; ``offline=True`` uses it.

Retries live here rather than in the Prefect task so that the CLI's
``validate`` and the flow share one policy: a host that does not resolve or
refuses the connection (no network) is retried once, quickly; other transient
faults (timeouts, HTTP 5xx, a truncated body) with exponential backoff;
permanent ones (HTTP 4xx, a missing file, an HTML page, an oversized body) fail
at once.

Where the bytes came from is the snapshot's ``source``: ``upstream`` (the
catalog URL), ``mirror`` (``BNPIPE_DATA_MIRROR``), ``cache`` (the last good
download) or ``bundled`` (the copy inside the package). With ``fallback=True``
an upstream that cannot be reached is replaced by the last good cached copy, or
by the bundled copy when the cache has none; a mirror never falls back.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bnpipe.catalog import SEPARATORS, URL_SCHEMES, DatasetSpec

SOURCES = ("upstream", "mirror", "cache", "bundled")
BUNDLED_URL = "package:bnpipe/data/"  # the source_url of a bundled copy


class DownloadError(RuntimeError):
    """A dataset could not be downloaded, or what came back is not a usable CSV.

    ``transient``: worth another try. ``unreachable``: the host did not resolve or
    refused the connection, i.e. most likely no network: one quick retry only."""

    def __init__(self, message: str, *, transient: bool = False, unreachable: bool = False):
        super().__init__(message)
        self.transient = transient or unreachable
        self.unreachable = unreachable


@dataclass(frozen=True)
class Snapshot:
    """One downloaded, content-addressed copy of a dataset."""

    dataset: str
    url: str
    sha256: str
    path: Path
    size: int
    fetched_at: str
    from_cache: bool = False
    source: str = "upstream"  # one of SOURCES
    not_modified: bool = False  # the upstream answered 304: these are the cached bytes

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def redact(url: str) -> str:
    """The URL without user:password or query string, safe to log."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class Fetched:
    """One answer of the upstream: its bytes, or None for 304 Not Modified, and the
    validators it sent (ETag, Last-Modified) for the next conditional request."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None


def fetch(url: str, *, timeout: float = 30.0, max_bytes: int = 200 * 1024 * 1024) -> bytes:
    """Fetch the bytes at an http, https or file URL (one attempt)."""
    body = fetch_if_changed(url, timeout=timeout, max_bytes=max_bytes).body
    assert body is not None  # an unconditional request is never answered 304
    return body


def fetch_if_changed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = 200 * 1024 * 1024,
) -> Fetched:
    """Fetch ``url`` (one attempt); with validators from an earlier answer, ask
    with ``If-None-Match``/``If-Modified-Since`` and get ``body=None`` on 304."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in URL_SCHEMES:
        raise DownloadError(
            f"{redact(url)}: unsupported URL scheme {scheme!r} (use http, https or file)"
        )
    shown = redact(url)
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        if not path.is_file():
            raise DownloadError(f"{shown}: no such file")
        if path.stat().st_size > max_bytes:
            raise DownloadError(f"{shown}: file is larger than the {max_bytes} byte cap")
        return Fetched(path.read_bytes())
    request = _http_request(url)
    if etag:
        request.add_header("If-None-Match", etag)
    if last_modified:
        request.add_header("If-Modified-Since", last_modified)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            validators = response.headers.get("ETag"), response.headers.get("Last-Modified")
            expected = response.length  # http.client's parsed Content-Length, or None
            if expected is not None and expected > max_bytes:
                raise DownloadError(
                    f"{shown}: body of {expected} bytes exceeds the {max_bytes} byte cap"
                )
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and (etag or last_modified):
            return Fetched(
                None,
                exc.headers.get("ETag") or etag,
                exc.headers.get("Last-Modified") or last_modified,
            )
        transient = exc.code >= 500 or exc.code in (408, 429)
        raise DownloadError(f"{shown}: HTTP {exc.code} {exc.reason}", transient=transient) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"{shown}: {reason}", transient=True, unreachable=_unreachable(reason)
        ) from None
    except http_client_errors() as exc:
        raise DownloadError(f"{shown}: connection broken ({exc})", transient=True) from None
    if len(body) > max_bytes:
        raise DownloadError(f"{shown}: body exceeds the {max_bytes} byte cap")
    if expected is not None and len(body) < expected:
        raise DownloadError(
            f"{shown}: truncated body ({len(body)} of {expected} bytes)", transient=True
        )
    return Fetched(body, *validators)


def _unreachable(reason: object) -> bool:
    """No route to the data: a name that does not resolve, a refused connection."""
    import errno
    import socket

    if isinstance(reason, socket.gaierror | ConnectionRefusedError):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def _http_request(url: str) -> urllib.request.Request:
    """A GET for ``url``; ``user:password@`` in it becomes HTTP Basic auth.

    urllib would otherwise take ``user:password@host`` for the host name and fail
    with "Name or service not known". The header is not sent on to a redirect.
    """
    parts = urllib.parse.urlsplit(url)
    request = urllib.request.Request(
        urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])),
        headers={"User-Agent": "bnpipe"},
    )
    if parts.username is not None or parts.password is not None:
        import base64

        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def http_client_errors() -> tuple[type[BaseException], ...]:
    import http.client

    return (http.client.IncompleteRead, http.client.RemoteDisconnected)


def check_csv(data: bytes, *, dataset: str, url: str, sep: str = ",") -> int:
    """Reject what is not a well-formed CSV separated by ``sep``; return its number of
    data rows. A header that is one field but holds another separator is refused
    with the ``sep:`` the catalog wants."""
    where = f"{dataset}: {redact(url)}"
    if not data.strip():
        raise DownloadError(f"{where}: empty body, expected a CSV")
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")) or b"<html" in head:
        raise DownloadError(f"{where}: got an HTML/XML page, not a CSV")
    if b"\x00" in data:
        raise DownloadError(f"{where}: binary content, not a CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DownloadError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    except csv.Error as exc:
        raise DownloadError(f"{where}: not a CSV ({exc})") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if rows and len(rows[0]) == 1:
        _refuse_other_separator(rows[0][0], sep, where)
    if len(rows) < 2:
        raise DownloadError(f"{where}: header only, no data rows")
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            last = number == len(rows)
            hint = " (truncated body?)" if last else ""
            raise DownloadError(
                f"{where}: line {number} has {len(row)} fields, the header has {width}{hint}",
                transient=last,  # a cut-off last line is worth another download
            )
    return len(rows) - 1


def _refuse_other_separator(header: str, sep: str, where: str) -> None:
    """A one-field header that another separator splits: the catalog's ``sep`` is wrong."""
    fields = {
        other: len(next(csv.reader([header], delimiter=other)))
        for other in SEPARATORS
        if other != sep and other in header
    }
    if not fields or max(fields.values()) < 2:
        return
    other = max(fields, key=lambda s: fields[s])
    shown = repr(other)  # '\t' for a tab
    setting = '"\\t"' if other == "\t" else repr(other)
    raise DownloadError(
        f"{where}: the header has one field but contains {shown}: the file looks "
        f"{shown}-separated; set sep: {setting} in the catalog"
    )


class DataCache:
    """``<root>/<dataset>/<sha256>.csv`` plus a ``latest.json`` pointer per dataset."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _pointer(self, dataset: str) -> Path:
        return self.root / dataset / "latest.json"

    def store(self, dataset: str, url: str, data: bytes, *, promote: bool = True) -> Snapshot:
        """Keep ``data`` under its SHA-256; with ``promote`` also make it the
        ``latest`` copy (pass False until the data has passed validation)."""
        digest = hashlib.sha256(data).hexdigest()
        folder = self.root / dataset
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{digest}.csv"
        if not path.exists():
            _atomic_write(path, data)
        snap = Snapshot(
            dataset=dataset,
            url=redact(url),
            sha256=digest,
            path=path,
            size=len(data),
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if promote:
            self.promote(snap)
        return snap

    def promote(self, snap: Snapshot) -> None:
        """Point ``latest.json`` at ``snap``: the copy ``offline`` mode falls back to."""
        record = {**snap.to_dict(), "from_cache": False}
        _atomic_write(self._pointer(snap.dataset), json.dumps(record, indent=2).encode())

    def _validators_file(self, dataset: str) -> Path:
        return self.root / dataset / "validators.json"

    @staticmethod
    def _url_key(url: str) -> str:  # the URL itself may hold a password
        return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]

    def validators(self, dataset: str, url: str) -> dict | None:
        """``{"etag", "last_modified", "sha256"}`` of ``url``'s last answer, when the
        bytes they describe are still in the cache (a 304 means "those bytes")."""
        path = self._validators_file(dataset)
        try:
            record = json.loads(path.read_text("utf-8")).get(self._url_key(url))
        except (OSError, ValueError):
            return None
        if not record or not (self.root / dataset / f"{record.get('sha256')}.csv").is_file():
            return None
        return record

    def remember(self, dataset: str, url: str, fetched: Fetched, sha256: str) -> None:
        """Keep the validators of ``url``'s answer beside the SHA-256 of its bytes."""
        path = self._validators_file(dataset)
        try:
            records = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            records = {}
        if fetched.etag or fetched.last_modified:
            records[self._url_key(url)] = {
                "etag": fetched.etag, "last_modified": fetched.last_modified, "sha256": sha256,
            }  # fmt: skip
        else:  # a server that sends neither: a full download, and the hash decides
            records.pop(self._url_key(url), None)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(records, indent=2).encode())

    def latest(self, dataset: str) -> Snapshot | None:
        pointer = self._pointer(dataset)
        if not pointer.is_file():
            return None
        d = json.loads(pointer.read_text())
        known = {f.name for f in dataclasses.fields(Snapshot)}
        d = {k: v for k, v in d.items() if k in known}
        d.update(path=Path(d["path"]), from_cache=True, source="cache")
        snap = Snapshot(**d)
        return snap if snap.path.is_file() else None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(
    spec: DatasetSpec,
    cache: DataCache,
    *,
    mirror: str | None = None,
    retries: int = 3,
    retry_delay: float = 1.0,
    timeout: float = 30.0,
    max_bytes: int = 200 * 1024 * 1024,
    offline: bool = False,
    fallback: bool = False,
    promote: bool = True,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Download ``spec``'s CSV into the cache and return the snapshot.

    ``offline=True`` skips the network and returns the last good copy (with a
    warning), or fails when there is none. ``fallback=True``: when the upstream
    cannot be reached (after its retries), use the last good copy, else the
    bundled one, with one warning line; never for a mirror, never for bad bytes.
    ``promote=False`` keeps the download but leaves ``latest`` where it was: the
    caller promotes the snapshot with :meth:`DataCache.promote` once the data
    has passed validation, so bad data never replaces the last good copy.
    """
    url = spec.source_url(mirror)
    if offline:
        snap = cache.latest(spec.name)
        if snap is None:
            raise DownloadError(f"{spec.name}: offline, and no cached copy to use")
        log(
            f"warning: {spec.name}: offline, using the cached copy {snap.sha256[:12]} from {snap.fetched_at}"
        )
        return snap
    known = cache.validators(spec.name, url)
    not_modified = False
    try:
        fetched = _fetch_retrying(
            spec.name, url, retries, retry_delay, timeout, max_bytes, log, sleep,
            sep=spec.sep, known=known,
        )  # fmt: skip
        data = fetched.body
        if data is None:  # 304: the bytes of the validators' SHA-256, checked again
            data = (cache.root / spec.name / f"{known['sha256']}.csv").read_bytes()
            if hashlib.sha256(data).hexdigest() != known["sha256"]:
                known = None
                fetched = _fetch_retrying(
                    spec.name, url, retries, retry_delay, timeout, max_bytes, log, sleep,
                    sep=spec.sep,
                )  # fmt: skip
                data = fetched.body
            else:
                not_modified = True
                log(
                    f"{spec.name}: not modified upstream (HTTP 304); using the cached copy "
                    f"{known['sha256'][:12]}"
                )
    except DownloadError as exc:
        copy = fallback_copy(spec, cache) if fallback and exc.transient and not mirror else None
        if copy is None:
            raise
        what = (
            f"the last good cached copy {copy.sha256[:12]} (downloaded {copy.fetched_at})"
            if copy.source == "cache"
            else f"the bundled copy {copy.sha256[:12]} (shipped with bnpipe, digest checked)"
        )
        log(
            f"warning: {spec.name}: upstream {redact(url)} cannot be reached ({_cause(exc)}); using {what}"
        )
        return copy
    digest = hashlib.sha256(data).hexdigest()
    if spec.sha256 and digest != spec.sha256:
        raise DownloadError(
            f"{spec.name}: {redact(url)}: sha256 {digest} does not match the catalog pin {spec.sha256}"
        )
    snap = cache.store(spec.name, url, data, promote=promote)
    cache.remember(spec.name, url, fetched, snap.sha256)
    return dataclasses.replace(
        snap, source="mirror" if mirror else "upstream", not_modified=not_modified
    )


def _fetch_retrying(
    dataset: str,
    url: str,
    retries: int,
    retry_delay: float,
    timeout: float,
    max_bytes: int,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    *,
    sep: str = ",",
    known: dict | None = None,
) -> Fetched:
    """One download with the retry policy of the module docstring; conditional
    when ``known`` holds the validators of an earlier answer."""
    attempt = 0
    known = known or {}
    while True:
        attempt += 1
        try:
            fetched = fetch_if_changed(
                url, etag=known.get("etag"), last_modified=known.get("last_modified"),
                timeout=timeout, max_bytes=max_bytes,
            )  # fmt: skip
            if fetched.body is not None:
                check_csv(fetched.body, dataset=dataset, url=url, sep=sep)
            return fetched
        except DownloadError as exc:
            limit = min(retries, UNREACHABLE_RETRIES) if exc.unreachable else retries
            if not exc.transient or attempt > limit:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise DownloadError(
                    f"{dataset}: download failed{tries}: {exc}",
                    transient=exc.transient,
                    unreachable=exc.unreachable,
                ) from None
            delay = (
                min(retry_delay, UNREACHABLE_RETRY_DELAY)
                if exc.unreachable
                else retry_delay * 2 ** (attempt - 1)
            )
            log(f"{dataset}: {exc}; retry {attempt} of {limit} in {delay:g} s")
            sleep(delay)


# A host that does not resolve or refuses the connection is asked once more, at once:
# on a machine without network every further attempt fails the same way.
UNREACHABLE_RETRIES = 1
UNREACHABLE_RETRY_DELAY = 0.25


def _cause(exc: DownloadError) -> str:
    """``[Errno -2] Name or service not known`` out of the full download error."""
    return str(exc).rpartition(": ")[2] or str(exc)


def fallback_copy(spec: DatasetSpec, cache: DataCache) -> Snapshot | None:
    """The last good cached copy (its bytes re-hashed), else the bundled copy
    (checked against the catalog's digest, stored in the cache but not promoted:
    validation gates it like a download), else None."""
    last = cache.latest(spec.name)
    if last is not None and hashlib.sha256(last.path.read_bytes()).hexdigest() == last.sha256:
        return dataclasses.replace(last, source="cache")
    if spec.bundled is None:
        return None
    data = bundled_bytes(spec.bundled.file)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.bundled.sha256:
        raise DownloadError(
            f"{spec.name}: the bundled copy {spec.bundled.file} has sha256 {digest}, "
            f"not the catalog's {spec.bundled.sha256}: reinstall bnpipe"
        )
    snap = cache.store(spec.name, BUNDLED_URL + spec.bundled.file, data, promote=False)
    return dataclasses.replace(snap, source="bundled")


def bundled_bytes(file: str) -> bytes:
    """A CSV shipped in the package (``bnpipe/data/<file>``)."""
    from importlib import resources

    path = resources.files("bnpipe").joinpath("data", file)
    if not path.is_file():
        raise DownloadError(f"the bundled copy {file} is not in this installation of bnpipe")
    return path.read_bytes()


def read_csv(path: Path, sep: str = ","):
    """Read a cached CSV (separated by ``sep``, the catalog's) as every stage after
    download reads it; a UTF-8 BOM is dropped, CRLF line ends are fine."""
    import pandas as pd

    return pd.read_csv(path, encoding="utf-8-sig", sep=sep)

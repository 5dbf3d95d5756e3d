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

- :mod:`~bnpipe.ingest.fetching`: one attempt at a URL's bytes, :func:`redact`;
- :mod:`~bnpipe.ingest.csv_check`: is it a CSV; reading a cached one;
- :mod:`~bnpipe.ingest.cache`: the content-addressed cache and its snapshots;
- :mod:`~bnpipe.ingest.downloading`: retries, conditional requests, fallbacks.
"""

from __future__ import annotations

from bnpipe.ingest.cache import SOURCES, DataCache, Snapshot
from bnpipe.ingest.csv_check import check_csv, read_csv
from bnpipe.ingest.downloading import (
    BUNDLED_URL,
    UNREACHABLE_RETRIES,
    UNREACHABLE_RETRY_DELAY,
    bundled_bytes,
    download,
    fallback_copy,
)
from bnpipe.ingest.fetching import (
    DownloadError,
    Fetched,
    fetch,
    fetch_if_changed,
    http_client_errors,
    redact,
)

__all__ = [
    "BUNDLED_URL",
    "SOURCES",
    "UNREACHABLE_RETRIES",
    "UNREACHABLE_RETRY_DELAY",
    "DataCache",
    "DownloadError",
    "Fetched",
    "Snapshot",
    "bundled_bytes",
    "check_csv",
    "download",
    "fallback_copy",
    "fetch",
    "fetch_if_changed",
    "http_client_errors",
    "read_csv",
    "redact",
]

"""Download a dataset into the cache with the retry policy (see :mod:`bnpipe.ingest`),
a conditional request when the cache knows the URL, the catalog's digest pin,
and the fallback to the last good or the bundled copy."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable

from bnpipe.catalog import DatasetSpec
from bnpipe.ingest.cache import DataCache, Snapshot
from bnpipe.ingest.csv_check import check_csv
from bnpipe.ingest.fetching import DownloadError, Fetched, fetch_if_changed, redact

BUNDLED_URL = "package:bnpipe/data/"  # the source_url of a bundled copy
# A host that does not resolve or refuses the connection is asked once more, at once:
# on a machine without network every further attempt fails the same way.
UNREACHABLE_RETRIES = 1
UNREACHABLE_RETRY_DELAY = 0.25


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
    warn: Callable[[str], None] | None = None,
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
    warn = warn or log  # the one warning line of a fallback; ``log`` says the rest
    url = spec.source_url(mirror)
    if offline:
        snap = cache.latest(spec.name)
        if snap is None:
            raise DownloadError(f"{spec.name}: offline, and no cached copy to use")
        warn(
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
        warn(
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
    """One download with the retry policy of the module docstring (``tenacity``);
    conditional when ``known`` holds the validators of an earlier answer."""
    from tenacity import RetryCallState, Retrying, retry_if_exception

    known = known or {}

    def attempt() -> Fetched:
        fetched = fetch_if_changed(
            url, etag=known.get("etag"), last_modified=known.get("last_modified"),
            timeout=timeout, max_bytes=max_bytes,
        )  # fmt: skip
        if fetched.body is not None:
            check_csv(fetched.body, dataset=dataset, url=url, sep=sep)
        return fetched

    def error(state: RetryCallState) -> DownloadError:
        return state.outcome.exception()  # type: ignore[union-attr, return-value]

    def limit(exc: DownloadError) -> int:
        return min(retries, UNREACHABLE_RETRIES) if exc.unreachable else retries

    def delay(state: RetryCallState) -> float:
        if error(state).unreachable:
            return min(retry_delay, UNREACHABLE_RETRY_DELAY)
        return retry_delay * 2 ** (state.attempt_number - 1)

    def before_sleep(state: RetryCallState) -> None:
        exc, n = error(state), state.attempt_number
        log(f"{dataset}: {exc}; retry {n} of {limit(exc)} in {state.upcoming_sleep:g} s")

    def give_up(state: RetryCallState) -> DownloadError:  # returned, raised below
        exc, n = error(state), state.attempt_number
        tries = f" after {n} attempts" if n > 1 else ""
        return DownloadError(
            f"{dataset}: download failed{tries}: {exc}",
            transient=exc.transient,
            unreachable=exc.unreachable,
        )

    retrying = Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, DownloadError) and e.transient),
        stop=lambda state: state.attempt_number > limit(error(state)),
        wait=delay,
        sleep=sleep,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )
    try:
        outcome = retrying(attempt)
    except DownloadError as exc:  # not transient: no retry, the same words
        raise DownloadError(
            f"{dataset}: download failed: {exc}", transient=False, unreachable=exc.unreachable
        ) from None
    if isinstance(outcome, DownloadError):  # the retries are spent
        raise outcome
    return outcome


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

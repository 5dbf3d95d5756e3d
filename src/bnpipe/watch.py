"""Has a dataset's upstream changed? The light check behind the ``bn-watch``
deployment: a conditional request and the SHA-256 of the bytes, nothing else
(no TensorFlow, Great Expectations or MLflow on this path).

A change is announced once: the watch keeps the SHA-256 it last announced in
``<cache>/<dataset>/watched.json``. The content counts as changed when it is
neither that nor the last good copy's (the data the last completed run trained
on). So data a run has already trained on announces nothing, and data that was
refused is not announced again every period: the next change is.

The first look at a dataset with neither (a new stack) records what it saw and
announces nothing: that content is not a change, and a fresh stack should not
start every comparison at once. The weekly schedule or a run by hand trains on
it; the next change starts a comparison.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bnpipe import ingest
from bnpipe.catalog import DatasetSpec
from bnpipe.settings import Settings

STATE_FILE = "watched.json"


@dataclass(frozen=True)
class Check:
    """One look at one dataset's upstream."""

    dataset: str
    url: str  # redacted
    old_sha256: str | None  # announced last, else the last good copy's
    new_sha256: str
    changed: bool
    first: bool  # nothing announced or trained on yet: recorded, not announced
    not_modified: bool  # the upstream answered 304
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        how = "HTTP 304" if self.not_modified else "downloaded and hashed"
        if self.first:
            return f"{self.dataset}: first look: {self.new_sha256[:12]} recorded ({how})"
        if self.changed:
            old = self.old_sha256[:12] if self.old_sha256 else "?"
            return f"{self.dataset}: changed upstream: {old} -> {self.new_sha256[:12]} ({how})"
        return f"{self.dataset}: unchanged ({self.new_sha256[:12]}, {how}, {self.seconds:.2f} s)"


def check(spec: DatasetSpec, settings: Settings, log: Callable[[str], None] = print) -> Check:
    """Fetch ``spec`` conditionally into the cache (a 304 reuses the cached bytes)
    and compare its SHA-256 with what was announced or trained on last."""
    began = time.perf_counter()
    cache = ingest.DataCache(settings.cache_dir)
    # the last good copy moves only when a run completes on these bytes
    snap = ingest.download(spec, cache, **settings.download_options(), promote=False, log=log)
    announced = _announced(cache, spec.name)
    good = cache.latest(spec.name)
    known = {s for s in (announced, good.sha256 if good else None) if s}
    return Check(
        dataset=spec.name,
        url=ingest.redact(snap.url),
        old_sha256=announced or (good.sha256 if good else None),
        new_sha256=snap.sha256,
        changed=bool(known) and snap.sha256 not in known,
        first=not known,
        not_modified=snap.not_modified,
        seconds=time.perf_counter() - began,
    )


def announce(settings: Settings, result: Check) -> None:
    """Record that ``result``'s content was announced (after its event went out)."""
    path = settings.cache_dir / result.dataset / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "sha256": result.new_sha256,
        "url": result.url,
        "announced_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    tmp.replace(path)


def _announced(cache: ingest.DataCache, dataset: str) -> str | None:
    path = cache.root / dataset / STATE_FILE
    try:
        return json.loads(path.read_text("utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None

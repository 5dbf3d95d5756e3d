"""The content-addressed cache: ``<root>/<dataset>/<sha256>.csv``, the ``latest``
copy (the last good one) and each URL's validators for conditional requests."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bnpipe.ingest.fetching import Fetched, redact

SOURCES = ("upstream", "mirror", "cache", "bundled")


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

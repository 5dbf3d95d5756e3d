"""Content keys: what identifies a piece of work, so that work already done is
found again instead of redone.

A key is the SHA-256 of a canonical JSON document of everything the result
depends on: the data's SHA-256, the dataset's catalog entry and suite (their
content), the resolved run parameters, and the code version. The sweep's
resume uses it per cell; a comparison run uses the same function.

The code version is the package version plus a hash of the installed sources
of ``bnpipe`` with its ``bnpipe.flows`` and ``bnpipe.tasks`` (``*.py``, in path
order; in a checkout those two are the top-level ``flows/`` and ``tasks/``), so a
checkout with local edits counts as new code. Nothing is read at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

KEY_CHARS = 16  # shown and tagged; 64 bits tell apart far more runs than any store holds


@functools.cache
def code_version() -> str:
    """``<version>+<12 hex of the sources>``, e.g. ``0.1.0+3f2a9c1d0b7e``."""
    import importlib.util

    import bnpipe

    roots = [Path(bnpipe.__file__).resolve().parent]
    for name in ("bnpipe.flows", "bnpipe.tasks"):  # found, not imported: no Prefect here
        spec = importlib.util.find_spec(name)
        for where in (spec.submodule_search_locations or []) if spec else []:
            path = Path(where).resolve()
            if path.is_dir() and not path.is_relative_to(roots[0]):  # a checkout's top level
                roots.append(path)
    return f"{bnpipe.__version__}+{sources_digest(roots)}"


def git_commit(project_dir: Path) -> str:
    """The commit checked out in ``project_dir`` (``git rev-parse HEAD``), or
    ``"unknown"`` outside a git checkout or without git: the run tag ``git_commit``."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def sources_digest(roots: list[Path]) -> str:
    """12 hex over every ``*.py`` under ``roots``: their relative paths and bytes."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{root.name}/{path.relative_to(root)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def content_hash(obj: object) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes (a suite), or of nothing when it is missing."""
    return hashlib.sha256(path.read_bytes() if path.is_file() else b"").hexdigest()


def dataset_key(kind: str, spec, data_sha256: str, config, expectations_dir: Path) -> str:
    """The key of work on one dataset: its bytes, its catalog entry (a dataclass),
    its suite file under ``expectations_dir``, the resolved parameters (a pydantic
    model) and the code version."""
    return work_key(
        kind=kind,
        data_sha256=data_sha256,
        catalog_entry=dataclasses.asdict(spec),
        suite_sha256=file_hash(expectations_dir / f"{spec.suite}.json"),
        params=config.model_dump(),
    )


def work_key(
    *,
    data_sha256: str,
    catalog_entry: Mapping[str, object],
    suite_sha256: str,
    params: Mapping[str, object],
    code: str | None = None,
    kind: str = "comparison",
) -> str:
    """The key of one piece of work (a comparison, a sweep cell): ``KEY_CHARS`` hex."""
    return content_hash(
        {
            "kind": kind,
            "data": data_sha256,
            "catalog": content_hash(dict(catalog_entry)),
            "suite": suite_sha256,
            "params": dict(params),
            "code": code if code is not None else code_version(),
        }
    )[:KEY_CHARS]

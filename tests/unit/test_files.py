"""Files bnpipe writes for a person to keep (the catalog, the suites) are
written whole or not at all: a write stopped halfway leaves the old file."""

from __future__ import annotations

import os

import pytest

from bnpipe.catalog import append_entry, load_catalog, parse_entry
from bnpipe.files import write_atomically
from bnpipe.validation.suites import write_suite

CATALOG = "# mine\ndatasets:\n  wine:\n    url: https://example.com/wine.csv\n    task: classification\n    target: color\n    features: [acidity]\n"  # fmt: skip


def spec(name: str = "flats"):
    entry = {"url": "https://example.com/f.csv", "task": "regression", "target": "y",
             "features": ["a", "b"]}  # fmt: skip
    return parse_entry(name, entry)


@pytest.fixture
def stopped_at_sync(monkeypatch):
    """A Ctrl-C while the new content is on its way to the disk."""

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)


def test_a_catalog_write_stopped_halfway_leaves_the_old_catalog(tmp_path, stopped_at_sync):
    catalog = tmp_path / "datasets.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        append_entry(catalog, spec())
    assert catalog.read_text(encoding="utf-8") == CATALOG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets.yaml"]  # no temporary file


def test_a_suite_write_stopped_halfway_leaves_no_suite(tmp_path, stopped_at_sync):
    path = tmp_path / "expectations" / "flats.json"
    with pytest.raises(KeyboardInterrupt):
        write_suite({"name": "flats", "expectations": []}, path)
    assert list(path.parent.iterdir()) == []


def test_an_appended_entry_keeps_the_file_its_mode_and_its_link(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text(CATALOG, encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "datasets.yaml"
    link.symlink_to(real)
    append_entry(link, spec())
    assert link.is_symlink() and set(load_catalog(link)) == {"wine", "flats"}
    assert real.read_text(encoding="utf-8").startswith(CATALOG)
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets.yaml", "real.yaml"]


def test_a_new_file_gets_the_umask_mode(tmp_path):
    umask = os.umask(0o027)
    try:
        write_atomically(tmp_path / "new.json", b"{}\n")
    finally:
        os.umask(umask)
    assert (tmp_path / "new.json").read_bytes() == b"{}\n"
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640

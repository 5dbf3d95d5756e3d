"""Content keys: the same inputs give the same key; any change gives another."""

from __future__ import annotations

import re

from bnpipe import keys


def test_the_code_version_is_the_package_version_and_a_hash_of_the_sources():
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", keys.code_version())


def test_a_work_key_changes_with_each_input_and_only_then():
    base = dict(
        data_sha256="a" * 64,
        catalog_entry={"name": "iris", "target": "species"},
        suite_sha256="b" * 64,
        params={"epochs": 30, "learning_rate": 0.01},
        code="0.1.0+000000000000",
    )
    key = keys.work_key(**base)
    assert len(key) == keys.KEY_CHARS and key == keys.work_key(**base)
    # the order a mapping was built in does not matter
    assert key == keys.work_key(**base | {"params": {"learning_rate": 0.01, "epochs": 30}})
    for change in (
        {"data_sha256": "c" * 64},
        {"catalog_entry": {"name": "iris", "target": "label"}},
        {"suite_sha256": "d" * 64},
        {"params": {"epochs": 31, "learning_rate": 0.01}},
        {"code": "0.1.0+111111111111"},
        {"kind": "sweep-cell"},
    ):
        assert keys.work_key(**base | change) != key, change


def test_a_local_edit_of_a_source_file_is_new_code(tmp_path):
    package = tmp_path / "tasks"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    (package / "notes.txt").write_text("not code\n")
    before = keys.sources_digest([package])
    (package / "notes.txt").write_text("still not code\n")
    assert keys.sources_digest([package]) == before
    (package / "a.py").write_text("x = 1  # an edit\n")
    edited = keys.sources_digest([package])
    assert edited != before
    (package / "a.py").rename(package / "b.py")  # same bytes, another file
    assert keys.sources_digest([package]) not in (before, edited)


def test_git_commit_is_the_checked_out_commit_or_unknown(tmp_path):
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert keys.git_commit(repo) == (head.stdout.strip() or "unknown")
    assert keys.git_commit(tmp_path / "missing") == "unknown"  # no such folder

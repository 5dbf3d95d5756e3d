"""bnpipe.settings: everything derives from one project folder; env vars override."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnpipe import settings as settings_module
from bnpipe.settings import load_settings

REPO = Path(settings_module.__file__).resolve().parents[2]  # the checkout of this code


def test_defaults_derive_from_the_checkout():
    s = load_settings({})
    assert s.project_dir == REPO  # the checkout holds datasets.yaml
    assert s.catalog_path == REPO / "datasets.yaml"
    assert s.expectations_dir == REPO / "expectations"
    assert s.state_dir == REPO / ".bnpipe"
    assert s.cache_dir == REPO / ".bnpipe" / "cache"
    assert s.reports_dir == REPO / ".bnpipe" / "reports"
    assert s.tracking_uri == f"sqlite:///{REPO / 'mlflow.db'}"
    assert s.artifact_root == REPO / "mlartifacts"
    assert s.data_mirror is None
    assert (s.download_retries, s.download_retry_delay, s.download_timeout) == (3, 1.0, 30.0)
    assert s.max_download_bytes == 200 * 1024 * 1024


def test_project_dir_moves_every_path(tmp_path):
    s = load_settings({"BNPIPE_PROJECT_DIR": str(tmp_path)})
    for path in (s.catalog_path, s.expectations_dir, s.state_dir, s.cache_dir, s.artifact_root):
        assert path.is_relative_to(tmp_path)
    assert s.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert s.tracking_uri.startswith("sqlite:////")  # an absolute path: four slashes


def test_loading_settings_creates_nothing(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    load_settings({"BNPIPE_PROJECT_DIR": str(project), "BNPIPE_STATE_DIR": str(tmp_path / "s")})
    assert list(project.iterdir()) == [] and not (tmp_path / "s").exists()


def test_explicit_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(
        {
            "BNPIPE_PROJECT_DIR": str(tmp_path / "proj"),
            "BNPIPE_CATALOG": "other/catalog.yaml",  # relative: against the current directory
            "BNPIPE_EXPECTATIONS_DIR": str(tmp_path / "suites"),
            "BNPIPE_STATE_DIR": "state",
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
            "BNPIPE_DOWNLOAD_RETRIES": "5",
            "BNPIPE_DOWNLOAD_RETRY_DELAY": "0.25",
            "BNPIPE_DOWNLOAD_TIMEOUT": "2",
            "BNPIPE_MAX_DOWNLOAD_MB": "0.5",
        }
    )
    assert s.catalog_path == tmp_path / "other" / "catalog.yaml"
    assert s.catalog_path.is_absolute()
    assert s.expectations_dir == tmp_path / "suites"
    assert s.state_dir == tmp_path / "state" and s.cache_dir == tmp_path / "state" / "cache"
    assert s.tracking_uri == "http://127.0.0.1:5000"
    assert s.download_retries == 5 and s.download_retry_delay == 0.25
    assert s.download_timeout == 2.0 and s.max_download_bytes == 512 * 1024


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8000/data/", "http://127.0.0.1:8000/data"),
        ("https://mirror.example.org/csv", "https://mirror.example.org/csv"),
        ("", None),
    ],
)
def test_url_mirror(value, expected):
    assert load_settings({"BNPIPE_DATA_MIRROR": value}).data_mirror == expected


def test_directory_mirror_is_resolved_once(tmp_path, monkeypatch, data_mirror):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    s = load_settings({"BNPIPE_DATA_MIRROR": "data"})
    assert s.data_mirror == str(tmp_path / "data")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings({"BNPIPE_DATA_MIRROR": "~/data"}).data_mirror == str(tmp_path / "data")
    assert load_settings({"BNPIPE_DATA_MIRROR": str(data_mirror)}).data_mirror == str(data_mirror)


def test_reads_os_environ_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("BNPIPE_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("BNPIPE_DOWNLOAD_RETRIES", "7")
    monkeypatch.delenv("BNPIPE_STATE_DIR", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    s = load_settings()
    assert s.project_dir == tmp_path and s.download_retries == 7
    assert s.state_dir == tmp_path / ".bnpipe"


def test_settings_are_frozen():
    s = load_settings({})
    with pytest.raises(AttributeError):
        s.download_retries = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    "var", ["BNPIPE_DOWNLOAD_RETRIES", "BNPIPE_DOWNLOAD_TIMEOUT", "BNPIPE_MAX_DOWNLOAD_MB"]
)
def test_a_bad_number_names_the_variable(var):
    with pytest.raises(ValueError, match=var):
        load_settings({var: "three"})

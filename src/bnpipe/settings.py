"""Runtime settings, read from the environment when asked for (never at import).

Every path the project writes to derives from one project folder, so a clone
runs anywhere and nothing names a path of one machine:

* ``BNPIPE_PROJECT_DIR`` - the project folder (default: the checkout this code
  lives in when it holds ``datasets.yaml``, else the current directory).
* ``BNPIPE_CATALOG`` - the dataset catalog (default ``<project>/datasets.yaml``).
* ``BNPIPE_EXPECTATIONS_DIR`` - GX suites (default ``<project>/expectations``).
* ``BNPIPE_STATE_DIR`` - caches and local server state (default ``<project>/.bnpipe``).
* ``BNPIPE_DATA_MIRROR`` - a directory or http(s) base URL; ``<mirror>/<name>.csv``
  replaces a dataset's upstream URL.
* ``MLFLOW_TRACKING_URI`` - default ``sqlite:///<project>/mlflow.db`` with
  artifacts in ``<project>/mlartifacts``.
* ``BNPIPE_DOWNLOAD_RETRIES`` (3), ``BNPIPE_DOWNLOAD_RETRY_DELAY`` (1.0 s, doubled
  each retry), ``BNPIPE_DOWNLOAD_TIMEOUT`` (30 s), ``BNPIPE_MAX_DOWNLOAD_MB`` (200).
* ``BNPIPE_PREFECT_PORT`` (4200), ``BNPIPE_MLFLOW_PORT`` (5000) - ports of ``bnpipe stack``.

:data:`TELEMETRY_OFF` is the one list of variables that keep MLflow, Prefect and
Great Expectations from reporting usage; :func:`telemetry_off` sets them where unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

_CODE_CHECKOUT = Path(__file__).resolve().parents[2]

TELEMETRY_OFF: dict[str, str] = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
}
"""No usage reports from MLflow, Prefect or Great Expectations (nor any tool that
honours ``DO_NOT_TRACK``)."""


def telemetry_off(environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set each of :data:`TELEMETRY_OFF` in ``environ`` (default ``os.environ``) where it
    is unset; a value the user set is kept. Returns ``environ``."""
    environ = os.environ if environ is None else environ
    for key, value in TELEMETRY_OFF.items():
        environ.setdefault(key, value)
    return environ


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    catalog_path: Path
    expectations_dir: Path
    state_dir: Path
    data_mirror: str | None
    tracking_uri: str
    artifact_root: Path
    download_retries: int = 3
    download_retry_delay: float = 1.0
    download_timeout: float = 30.0
    max_download_bytes: int = 200 * 1024 * 1024
    prefect_port: int = 4200
    mlflow_port: int = 5000

    @property
    def cache_dir(self) -> Path:
        """Content-addressed download cache: ``<state>/cache/<dataset>/<sha256>.csv``."""
        return self.state_dir / "cache"

    def download_options(self) -> dict:
        """The keyword arguments ``ingest.download`` takes from the settings."""
        return {
            "mirror": self.data_mirror,
            "retries": self.download_retries,
            "retry_delay": self.download_retry_delay,
            "timeout": self.download_timeout,
            "max_bytes": self.max_download_bytes,
        }

    @property
    def reports_dir(self) -> Path:
        """Local copies of validation reports (kept even when MLflow is down)."""
        return self.state_dir / "reports"


def _default_project_dir(env: Mapping[str, str]) -> Path:
    if env.get("BNPIPE_PROJECT_DIR"):
        return Path(env["BNPIPE_PROJECT_DIR"]).resolve()
    if (_CODE_CHECKOUT / "datasets.yaml").is_file():
        return _CODE_CHECKOUT
    return Path.cwd().resolve()


def _mirror(value: str | None) -> str | None:
    """A mirror directory is resolved against the current directory once, here."""
    if not value:
        return None
    if "://" in value:
        return value.rstrip("/")
    return str(Path(value).expanduser().resolve())


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return kind(default)
    try:
        value = kind(float(raw)) if kind is int and float(raw).is_integer() else kind(raw)
    except ValueError:
        raise ValueError(
            f"{name} must be a {'whole ' if kind is int else ''}number, got {raw!r}"
        ) from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    project = _default_project_dir(env)
    state = Path(env.get("BNPIPE_STATE_DIR") or project / ".bnpipe").resolve()
    artifact_root = project / "mlartifacts"
    tracking_uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
    return Settings(
        project_dir=project,
        catalog_path=Path(env.get("BNPIPE_CATALOG") or project / "datasets.yaml").resolve(),
        expectations_dir=Path(
            env.get("BNPIPE_EXPECTATIONS_DIR") or project / "expectations"
        ).resolve(),
        state_dir=state,
        data_mirror=_mirror(env.get("BNPIPE_DATA_MIRROR")),
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        download_retries=_number(env, "BNPIPE_DOWNLOAD_RETRIES", 3, int),
        download_retry_delay=_number(env, "BNPIPE_DOWNLOAD_RETRY_DELAY", 1.0),
        download_timeout=_number(env, "BNPIPE_DOWNLOAD_TIMEOUT", 30.0),
        max_download_bytes=int(_number(env, "BNPIPE_MAX_DOWNLOAD_MB", 200) * 1024 * 1024),
        prefect_port=_number(env, "BNPIPE_PREFECT_PORT", 4200, int),
        mlflow_port=_number(env, "BNPIPE_MLFLOW_PORT", 5000, int),
    )

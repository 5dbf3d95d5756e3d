"""The process environment every command runs in: no telemetry, and the state
Prefect and XLA keep under the project's state folder."""

from __future__ import annotations

import os
from pathlib import Path

from bnpipe.settings import Settings, telemetry_off


def offline_env(settings: Settings) -> None:
    """Hygiene for everything this process starts, and Prefect's home in the project."""
    telemetry_off()
    for key, value in {
        "TF_CPP_MIN_LOG_LEVEL": "3",  # also hides the XLA cache loader's harmless ERROR lines
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        # "View run ... at" per logged model against a server: the links come at the end
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        "PREFECT_HOME": str(settings.state_dir / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "BNPIPE_XLA_CACHE_DIR": str(settings.state_dir / "xla-cache"),
    }.items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)

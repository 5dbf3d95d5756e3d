"""bnpipe.settings.telemetry_off: the one list of usage-reporting switches."""

from __future__ import annotations

import os

from bnpipe.settings import TELEMETRY_OFF, telemetry_off


def test_sets_every_switch_where_unset_and_keeps_the_users():
    env = {"DO_NOT_TRACK": "1", "PATH": "/bin"}
    assert telemetry_off(env) is env
    assert env == {**TELEMETRY_OFF, "DO_NOT_TRACK": "1", "PATH": "/bin"}
    assert set(TELEMETRY_OFF) == {
        "DO_NOT_TRACK",
        "MLFLOW_DISABLE_TELEMETRY",
        "PREFECT_SERVER_ANALYTICS_ENABLED",
        "GX_ANALYTICS_ENABLED",
    }


def test_defaults_to_the_process_environment(monkeypatch):
    for key in TELEMETRY_OFF:
        monkeypatch.delenv(key, raising=False)
    telemetry_off()
    assert {k: os.environ[k] for k in TELEMETRY_OFF} == TELEMETRY_OFF

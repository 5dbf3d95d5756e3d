"""The temporary Prefect server `bnpipe run` starts when no Prefect API is configured:
a real `prefect server start` on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import os
import time

import pytest

from bnpipe.ops.tempserver import NICENESS, SERVICES_OFF, ServerError, TemporaryServer, server_env
from bnpipe.probe import http_get
from bnpipe.processes import is_alive

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_server_env_is_offline_and_runs_no_scheduler():
    env = server_env({"PREFECT_API_URL": "http://elsewhere/api", "NO_PROXY": "corp"})
    assert "PREFECT_API_URL" not in env
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and env["DO_NOT_TRACK"] == "true"
    assert env["NO_PROXY"] == "corp,127.0.0.1,localhost"
    assert {f"PREFECT_SERVER_SERVICES_{s}_ENABLED" for s in SERVICES_OFF} <= set(env)
    assert env["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] == "false"


def test_two_servers_on_one_fresh_home_both_come_up_and_stop(tmp_path):
    """Boots are serialised per Prefect home (no migration race); each server is
    its own process group and is gone, port and all, after stop()."""
    home = tmp_path / "prefect"
    servers = [TemporaryServer(home, tmp_path / "logs").start() for _ in range(2)]
    try:
        urls = [s.wait_ready() for s in servers]
        assert urls[0] != urls[1] and all(u.startswith("http://127.0.0.1:") for u in urls)
        for s in servers:
            assert http_get(f"{s.api_url}/health")[0] == 200
            assert os.getpgid(s.proc.pid) == s.proc.pid  # a group of its own: Ctrl-C spares it
            assert os.getsid(s.proc.pid) == os.getsid(0)  # same session: nice counts (autogroup)
            mine = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, s.proc.pid) == min(19, mine + NICENESS)
        assert (home / "prefect.db").is_file()
    finally:
        for s in servers:
            s.stop()
    for s in servers:
        assert not is_alive(s.proc.pid)
        assert http_get(f"{s.api_url}/health", timeout=1.0) is None


def test_stop_while_booting_leaves_no_process(tmp_path):
    server = TemporaryServer(tmp_path / "prefect", tmp_path / "logs").start()
    deadline = time.monotonic() + 30
    while server.proc is None and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()
    assert server.proc is not None and not is_alive(server.proc.pid)
    with pytest.raises(ServerError, match="stopped before it was ready"):
        server.wait_ready()


def test_a_server_that_cannot_start_is_a_clear_error_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "nosuchdb://x")
    server = TemporaryServer(tmp_path / "prefect", tmp_path / "logs", timeout=90).start()
    try:
        with pytest.raises(ServerError) as info:
            server.wait_ready()
    finally:
        server.stop()
    message = str(info.value)
    assert "the temporary Prefect server exited" in message
    assert "prefect-temporary-server.log" in message and "nosuchdb" in message
    assert "\n" not in message and "Traceback" not in message  # one line; the log has the rest


def test_a_server_too_slow_for_its_timeout_says_so_in_one_line(tmp_path):
    """A loaded machine: the boot outlasts the timeout. One line that names the
    setting to raise and the log, none of the log's tracebacks."""
    server = TemporaryServer(tmp_path / "prefect", tmp_path / "logs", timeout=0.5).start()
    try:
        with pytest.raises(ServerError) as info:
            server.wait_ready()
    finally:
        server.stop()
    message = str(info.value)
    assert message.startswith("the temporary Prefect server did not answer within 0 s (load ")
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in message
    assert "bnpipe stack up" in message and str(server.log_path) in message
    assert "\n" not in message
    assert not is_alive(server.proc.pid)

"""The stack's addresses: URLs and the port check for an IPv4, IPv6 or wildcard
``--listen`` (no server is started here)."""

from __future__ import annotations

import socket

import pytest

from bnpipe.ops import stack
from bnpipe.ops.stack.mlflow_server import allowed_hosts


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from bnpipe.settings import load_settings

    for key in ("BNPIPE_PREFECT_PORT", "BNPIPE_MLFLOW_PORT", "BNPIPE_DASK_PORT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BNPIPE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return load_settings()


@pytest.mark.parametrize("listen", ["::1", "[::1]"])
def test_an_ipv6_address_is_bracketed_in_every_url(settings, listen):
    cfg = stack.load_config(settings, "sqlite", 1, listen=listen)
    assert cfg.listen == cfg.host == "::1"  # what the servers bind: no brackets
    assert cfg.prefect_url == "http://[::1]:4200"
    assert cfg.prefect_api_url == "http://[::1]:4200/api"
    assert cfg.mlflow_url == "http://[::1]:5000"
    assert cfg.dask_address == "tcp://[::1]:8786"
    env = stack.stack_env(cfg)
    assert env["PREFECT_API_URL"] == "http://[::1]:4200/api"
    assert "::1" in env["NO_PROXY"].split(",")


def test_ipv4_and_wildcard_addresses_stay_as_they_were(settings):
    cfg = stack.load_config(settings, "sqlite", 1)
    assert (cfg.prefect_url, cfg.dask_address) == ("http://127.0.0.1:4200", "tcp://127.0.0.1:8786")
    wildcard = stack.load_config(settings, "sqlite", 1, listen="::")  # auth: beyond loopback
    assert wildcard.mlflow_url == "http://127.0.0.1:5000"
    assert wildcard.dask_address == "tls://127.0.0.1:8786"


def test_mlflow_accepts_the_host_header_of_an_ipv6_address():
    patterns = allowed_hosts("2001:db8::5").split(",")
    assert {"[2001:db8::5]", "[2001:db8::5]:*", "localhost:*", "127.0.0.1"} <= set(patterns)
    assert "10.0.0.5:*" in allowed_hosts("10.0.0.5").split(",")


def _listener(family: int, host: str) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen()
    return s


def test_port_free_sees_a_listener_on_ipv4():
    with _listener(socket.AF_INET, "127.0.0.1") as s:
        port = s.getsockname()[1]
        assert not stack.port_free(port, "127.0.0.1")
    assert stack.port_free(port, "127.0.0.1")


def test_port_free_sees_a_listener_on_ipv6():
    try:
        s = _listener(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with s:
        port = s.getsockname()[1]
        assert not stack.port_free(port, "::1")
    assert stack.port_free(port, "::1")

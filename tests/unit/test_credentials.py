"""The stack's credentials: generated once, kept, files only its owner reads;
and when authentication is on (the team stack, any address beyond loopback)."""

from __future__ import annotations

import pytest

from bnpipe.ops import stack
from bnpipe.ops.credentials import TLS_ROLES, Credentials


def test_credentials_are_generated_once_into_files_only_the_owner_reads(tmp_path):
    creds = Credentials(tmp_path / "credentials")
    made = creds.ensure("sqlite:///" + str(tmp_path / "auth.db"))
    assert "Prefect auth string" in made and any("TLS" in m for m in made)
    assert oct(creds.home.stat().st_mode & 0o777) == "0o700"
    secret_files = [p for p in creds.home.rglob("*") if p.is_file() and not p.name.endswith(".pem")]
    secret_files += list(creds.home.rglob("*-key.pem"))
    assert len(secret_files) == 6 + len(TLS_ROLES) + 1  # 3 passwords, key, ini, auth; CA + 3 keys
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in secret_files)
    values = creds.secrets()
    assert len(set(values)) == len(values) == 5 and all(len(v) >= 24 for v in values)
    assert creds.prefect_auth_string.startswith("bnpipe:")
    # a second `up` keeps them (rotation is deliberate)
    assert creds.ensure("sqlite:///elsewhere.db") == []
    assert creds.secrets() == values
    assert "database_uri = sqlite:///elsewhere.db" in creds.auth_ini.read_text()
    # the admin password reaches the server by environment, never through the ini
    assert creds.mlflow_password("admin") not in creds.auth_ini.read_text()
    assert creds.mlflow_server_env()["MLFLOW_AUTH_ADMIN_PASSWORD"] == creds.mlflow_password("admin")


def test_the_dask_certificates_are_signed_by_the_stacks_ca(tmp_path):
    from cryptography import x509

    creds = Credentials(tmp_path / "c")
    creds.ensure("sqlite:///x.db", hosts=("10.0.0.5", "stack.example.org"))
    ca = x509.load_pem_x509_certificate(creds.ca.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for role in TLS_ROLES:
        cert = x509.load_pem_x509_certificate(creds.cert(role).read_bytes())
        cert.verify_directly_issued_by(ca)  # raises when it is not
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "stack.example.org" in names.get_values_for_type(x509.DNSName)
        assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} >= {
            "127.0.0.1",
            "10.0.0.5",
        }
    # and a certificate of another CA does not verify against this one
    foreign = Credentials(tmp_path / "other")
    foreign.ensure("sqlite:///y.db")
    with pytest.raises(Exception):  # noqa: B017, PT011 - cryptography's signature errors vary
        x509.load_pem_x509_certificate(
            foreign.cert("client").read_bytes()
        ).verify_directly_issued_by(ca)


@pytest.mark.parametrize(
    ("backend", "auth", "listen", "expected"),
    [
        ("sqlite", None, "127.0.0.1", False),
        ("sqlite", True, "127.0.0.1", True),
        ("postgres", None, "127.0.0.1", True),
        ("postgres", False, "::1", False),
        ("sqlite", None, "0.0.0.0", True),
        ("sqlite", None, "stack.example.org", True),
    ],
)
def test_authentication_is_on_for_the_team_stack_and_beyond_loopback(
    backend, auth, listen, expected
):
    assert stack.resolve_auth(backend, auth, listen) is expected


@pytest.mark.parametrize("listen", ["0.0.0.0", "10.0.0.5", "stack.example.org"])
def test_no_auth_beyond_loopback_is_refused_saying_why(listen):
    with pytest.raises(stack.StackError, match=rf"--listen {listen} with --no-auth is refused"):
        stack.resolve_auth("sqlite", False, listen)


def test_a_shell_s_credentials_do_not_reach_the_stacks_processes(tmp_path, monkeypatch):
    """After `eval "$(bnpipe stack env)"`, `stack up` passes none of it on: each
    process gets only its own side of the credentials."""
    from bnpipe.settings import load_settings

    for key in ("MLFLOW_TRACKING_PASSWORD", "PREFECT_API_AUTH_STRING", "MLFLOW_AUTH_ADMIN_PASSWORD",
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"):  # fmt: skip
        monkeypatch.setenv(key, "from-the-shell")
    monkeypatch.setenv("BNPIPE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    cfg = stack.load_config(load_settings(), "sqlite", 1, auth=True)
    cfg.credentials.ensure(cfg.auth_database_uri)
    env = stack.stack_env(cfg)
    assert "from-the-shell" not in env.values()
    assert cfg.flows_tracking_uri == cfg.mlflow_url  # with auth, flows go through the server
    client = cfg.client_env()
    assert client["MLFLOW_TRACKING_PASSWORD"] == cfg.credentials.mlflow_password("bnpipe")
    assert client["DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"].endswith("client-key.pem")

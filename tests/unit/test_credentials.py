"""The stack's credentials: generated once, kept, files only its owner reads;
and when authentication is on (the team stack, any address beyond loopback)."""

from __future__ import annotations

import pytest

from bnpipe.ops import stack
from bnpipe.ops.credentials import AUTH_CACHE_SECONDS, TLS_ROLES, Credentials, CredentialsError


def test_credentials_are_generated_once_into_files_only_the_owner_reads(tmp_path, monkeypatch):
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
    # MLflow reads it so: a verified password is remembered, not scrypt-checked per request
    from mlflow.server.auth.config import read_auth_config

    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(creds.auth_ini))
    assert read_auth_config().auth_cache_ttl_seconds == AUTH_CACHE_SECONDS > 0
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


@pytest.fixture
def made(tmp_path):
    """Credentials as a first `stack up` leaves them, and MLflow's SQLite user store."""
    creds = Credentials(tmp_path / "credentials")
    store = tmp_path / "mlflow-auth.db"
    creds.ensure(f"sqlite:///{store}")
    store.write_bytes(b"")  # the MLflow server made its users there
    return creds, f"sqlite:///{store}"


@pytest.mark.parametrize("user", ["admin", "bnpipe", "reader"])
def test_a_deleted_password_is_not_made_again_but_named(made, user):
    """MLflow's users keep the old password: a new file would lock bnpipe out."""
    creds, store = made
    gone = creds.mlflow_password_file(user)
    gone.unlink()
    with pytest.raises(CredentialsError, match=rf"^{gone} is missing: .*restore the file"):
        creds.ensure(store)
    assert not gone.exists()
    with pytest.raises(CredentialsError, match=rf"^{gone} is missing"):  # not a bare Errno 2
        creds.secrets()


def test_on_a_database_server_a_deleted_password_is_refused_too(made):
    creds, _ = made
    creds.mlflow_password_file("reader").unlink()
    with pytest.raises(CredentialsError, match="mlflow-reader.password is missing"):
        creds.ensure("postgresql+psycopg2://bnpipe:pw@127.0.0.1:5433/mlflow_auth")


def test_passwords_no_user_has_yet_are_made(made, tmp_path):
    creds, store = made
    (tmp_path / "mlflow-auth.db").unlink()  # no MLflow server ran on them yet
    creds.mlflow_password_file("reader").unlink()
    assert creds.ensure(store) == ["MLflow reader password"]


def test_a_deleted_prefect_auth_string_is_made_again_unless_its_server_runs(made):
    creds, store = made
    creds.prefect_file.unlink()
    with pytest.raises(
        CredentialsError, match=r"prefect\.auth is missing: the Prefect server runs"
    ):
        creds.ensure(store, prefect_in_use=True)
    with pytest.raises(CredentialsError, match=r"prefect\.auth is missing: restore it, or `bnpipe"):
        _ = creds.prefect_auth_string
    assert creds.ensure(store) == ["Prefect auth string"]
    assert creds.prefect_auth_string.startswith("bnpipe:")


def test_a_deleted_certificate_is_made_again_from_the_same_ca(made):
    from cryptography import x509

    creds, store = made
    kept = {p: p.read_bytes() for p in creds.tls_dir.iterdir() if "worker" not in p.name}
    creds.cert("worker").unlink()
    assert creds.ensure(store) == ["Dask TLS certificate (worker)"]
    assert {p: p.read_bytes() for p in kept} == kept  # the CA and the other roles untouched
    ca = x509.load_pem_x509_certificate(creds.ca.read_bytes())
    x509.load_pem_x509_certificate(creds.cert("worker").read_bytes()).verify_directly_issued_by(ca)
    creds.key("client").unlink()  # a key alone: its certificate is made again with it
    assert creds.ensure(store) == ["Dask TLS certificate (client)"]
    creds.key("client").unlink()  # while the stack runs: `stack env` names it
    with pytest.raises(CredentialsError, match=r"client-key\.pem is missing"):
        creds.dask_client_env()


def test_a_deleted_ca_is_named_while_certificates_it_signed_remain(made):
    creds, store = made
    creds.ca_key.unlink()
    with pytest.raises(CredentialsError, match=r"ca-key\.pem is missing: .*remove .*tls"):
        creds.ensure(store)
    for p in creds.tls_dir.iterdir():  # the documented rotation: tls/ goes, all is made anew
        p.unlink()
    assert creds.ensure(store) == ["Dask TLS certificates (CA, scheduler, worker, client)"]


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


# --------------------------------------------------------------------------- `bnpipe stack env`


@pytest.fixture
def auth_stack(env, tmp_path):
    """What `stack up --auth` leaves for `stack env` (stack.json, the credentials);
    no server runs: `stack env` reads files only."""
    from bnpipe.ops.stack.config import save_record
    from bnpipe.settings import load_settings

    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = stack.load_config(load_settings(), "sqlite", 0, auth=True)
    cfg.home.mkdir(parents=True)
    cfg.credentials.ensure(cfg.auth_database_uri)
    save_record(cfg)
    return cfg.credentials


def _stack_env(capsys) -> tuple[int, str, str]:
    from bnpipe.ops.cli import main

    code = main(["stack", "env"])
    out, err = capsys.readouterr()
    return code, out, err


def test_stack_env_prints_the_credentials(auth_stack, capsys):
    code, out, _ = _stack_env(capsys)
    assert code == 0
    assert f"export MLFLOW_TRACKING_PASSWORD={auth_stack.mlflow_password('bnpipe')}" in out
    assert f"export PREFECT_API_AUTH_STRING={auth_stack.prefect_auth_string}" in out


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty"),
        (b" \n\n", "is empty"),
        (b"old-password\nnew-password\n", "holds more than one line or a control character"),
        (b"pass\x00word\n", "holds more than one line or a control character"),
        ("pässword\n".encode("latin-1"), "is not UTF-8 text (byte 1 cannot be decoded)"),
    ],
)
def test_stack_env_refuses_a_bad_password_file_naming_it(auth_stack, capsys, content, problem):
    path = auth_stack.mlflow_password_file("bnpipe")
    path.write_bytes(content)
    code, out, err = _stack_env(capsys)
    assert code == 1 and out == ""
    assert err.splitlines()[0] == (
        f"bnpipe: error: {path} {problem}: MLflow's user store still has the old password, "
        "so a new one would lock bnpipe out: restore the file, or set a new password in MLflow "
        "and write it there (docs/team-stack.md, rotating a password)"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\n", "is empty"),
        (b"\xff\xfeb\x00n\x00", "is not UTF-8 text (byte 0 cannot be decoded)"),
        (b"no-user-part\n", "does not hold a Prefect auth string (USER:TOKEN, such as bnpipe:...)"),
        (b"bnpipe:\n", "does not hold a Prefect auth string (USER:TOKEN, such as bnpipe:...)"),
    ],
)
def test_stack_env_refuses_a_bad_prefect_auth_string_naming_the_file(
    auth_stack, capsys, content, problem
):
    path = auth_stack.prefect_file
    path.write_bytes(content)
    code, out, err = _stack_env(capsys)
    assert code == 1 and out == ""
    assert err.splitlines()[0].startswith(
        f"bnpipe: error: {path} {problem}: restore it, or delete it and `bnpipe stack down`"
    )


def test_a_password_file_with_a_byte_order_mark_reads_as_its_value(auth_stack, capsys):
    """Editors on Windows start UTF-8 with one; it is no part of the password."""
    path = auth_stack.mlflow_password_file("bnpipe")
    path.write_bytes("\ufeffs3cret-Value\r\n".encode())
    code, out, _ = _stack_env(capsys)
    assert code == 0 and "export MLFLOW_TRACKING_PASSWORD=s3cret-Value\n" in out

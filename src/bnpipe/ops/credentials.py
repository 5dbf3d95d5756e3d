"""The credentials of an authenticated stack (``bnpipe stack up --auth``, and the
team stack by default): generated once, kept in ``<state>/stack/credentials``
(folder 0700, files 0600), handed to processes through their environment or
files, never through a command line.

What is there:

* ``mlflow-admin.password``: MLflow's admin, for managing users only;
* ``mlflow-bnpipe.password``: the ``bnpipe`` user the flows and workers log as
  (it creates the experiments and models, so it may edit them);
* ``mlflow-reader.password``: a ``reader`` for people who only browse the UI
  (the server's default permission, READ, is all it has);
* ``mlflow-flask.key``: the MLflow server's CSRF key (its basic-auth app needs one);
* ``mlflow-auth.ini``: the basic-auth app's settings, with its user store's
  database URL (a database on the team stack's PostgreSQL, else a SQLite file
  beside the stack);
* ``prefect.auth``: the Prefect API auth string (``bnpipe:<token>``);
* ``tls/``: a certificate authority and certificates for the Dask scheduler,
  its workers and clients (mutual TLS: no certificate, no work submitted).

The PostgreSQL password of the stack's own server stays where
:mod:`bnpipe.ops.pgserver` keeps it. Nothing here imports MLflow, Prefect or Dask;
``cryptography`` is imported when the certificates are made.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

MLFLOW_ADMIN = "admin"
MLFLOW_USER = "bnpipe"
MLFLOW_READER = "reader"
PREFECT_USER = "bnpipe"
CERT_DAYS = 3650
TLS_ROLES = ("scheduler", "worker", "client")


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (never readable by others, not even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Credentials:
    home: Path  # <state>/stack/credentials

    # ------------------------------------------------------------------ paths

    def mlflow_password_file(self, user: str) -> Path:
        return self.home / f"mlflow-{user}.password"

    @property
    def flask_key_file(self) -> Path:
        return self.home / "mlflow-flask.key"

    @property
    def auth_ini(self) -> Path:
        return self.home / "mlflow-auth.ini"

    @property
    def prefect_file(self) -> Path:
        return self.home / "prefect.auth"

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    def cert(self, role: str) -> Path:
        return self.tls_dir / f"{role}.pem"

    def key(self, role: str) -> Path:
        return self.tls_dir / f"{role}-key.pem"

    @property
    def ca(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.tls_dir / "ca-key.pem"

    # ------------------------------------------------------------------ values

    def exists(self) -> bool:
        return self.prefect_file.exists()

    def mlflow_password(self, user: str = MLFLOW_USER) -> str:
        return self.mlflow_password_file(user).read_text("utf-8").strip()

    @property
    def prefect_auth_string(self) -> str:
        return self.prefect_file.read_text("utf-8").strip()

    @property
    def flask_key(self) -> str:
        return self.flask_key_file.read_text("utf-8").strip()

    def secrets(self) -> list[str]:
        """Every generated secret value (for masking, and for tests that look for leaks)."""
        values = [self.mlflow_password(u) for u in (MLFLOW_ADMIN, MLFLOW_USER, MLFLOW_READER)]
        values += [self.prefect_auth_string.split(":", 1)[1], self.flask_key]
        return values

    # ------------------------------------------------------------------ making them

    def ensure(self, auth_database_uri: str, hosts: tuple[str, ...] = ("127.0.0.1",)) -> list[str]:
        """Generate whatever is missing; the names of what was made. Existing
        credentials are kept (rotation is a deliberate act: docs/team-stack.md)."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        made = []
        for user in (MLFLOW_ADMIN, MLFLOW_USER, MLFLOW_READER):
            if not self.mlflow_password_file(user).exists():
                write_secret(self.mlflow_password_file(user), _token() + "\n")
                made.append(f"MLflow {user} password")
        if not self.flask_key_file.exists():
            write_secret(self.flask_key_file, secrets.token_hex(32) + "\n")
        if not self.prefect_file.exists():
            write_secret(self.prefect_file, f"{PREFECT_USER}:{_token()}\n")
            made.append("Prefect auth string")
        # the ini names the user store (its URL may hold a password): rewritten each
        # time, so a moved database follows; the admin password comes by environment
        write_secret(
            self.auth_ini,
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {auth_database_uri}\n"
            f"admin_username = {MLFLOW_ADMIN}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        )
        if not self.ca.exists() or not all(self.cert(r).exists() for r in TLS_ROLES):
            make_certificates(self.tls_dir, hosts)
            made.append("Dask TLS certificates (CA, scheduler, worker, client)")
        return made

    # ------------------------------------------------------------------ handing them over

    def mlflow_client_env(self, user: str = MLFLOW_USER) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_USERNAME": user,
            "MLFLOW_TRACKING_PASSWORD": self.mlflow_password(user),
        }

    def mlflow_server_env(self) -> dict[str, str]:
        return {
            "MLFLOW_AUTH_CONFIG_PATH": str(self.auth_ini),
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.mlflow_password(MLFLOW_ADMIN),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self.flask_key,
        }

    def dask_client_env(self) -> dict[str, str]:
        """Dask's own configuration variables: any Dask client (bnpipe's, or a
        user's ``Client(address)``) then speaks mutual TLS with the stack's cluster."""
        return {
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(self.ca),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(self.cert("client")),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(self.key("client")),
        }

    def dask_security(self):
        """A Dask client's ``Security`` with the stack's client certificate."""
        from distributed.security import Security

        return Security(
            tls_ca_file=str(self.ca), tls_client_cert=str(self.cert("client")),
            tls_client_key=str(self.key("client")), require_encryption=True,
        )  # fmt: skip

    def dask_argv(self, role: str) -> list[str]:
        """Command-line options of ``dask scheduler`` / ``dask worker`` (paths only)."""
        return ["--tls-ca-file", str(self.ca), "--tls-cert", str(self.cert(role)),
                "--tls-key", str(self.key(role))]  # fmt: skip


def make_certificates(folder: Path, hosts: tuple[str, ...]) -> None:
    """A CA (EC P-256) and one certificate per role in ``TLS_ROLES``, signed by it,
    for ``hosts`` (IP addresses or names). Keys 0600, certificates 0644."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key_pem(key) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def cert_pem(cert) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def builder(subject: str, issuer: str, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = "bnpipe stack CA"
    ca = (
        builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in dict.fromkeys(("127.0.0.1", *hosts)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    for role in TLS_ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            builder(f"bnpipe dask {role}", ca_name, key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_secret(folder / f"{role}-key.pem", key_pem(key))
        (folder / f"{role}.pem").write_text(cert_pem(cert))
    write_secret(folder / "ca-key.pem", key_pem(ca_key))
    (folder / "ca.pem").write_text(cert_pem(ca))

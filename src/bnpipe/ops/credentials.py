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

A missing file is made again only when nothing depends on it yet; else
``CredentialsError`` names it and says what to do (a password MLflow's users
already have, a certificate without the CA that signed the others).

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
AUTH_CACHE_SECONDS = 60  # MLflow remembers a verified password this long (auth_cache_ttl_seconds)
MLFLOW_USERS = (MLFLOW_ADMIN, MLFLOW_USER, MLFLOW_READER)
TLS_ROLES = ("scheduler", "worker", "client")
RESTART = "`bnpipe stack down`, then `bnpipe stack up`"
PASSWORD_GONE = (
    "MLflow's user store still has the old password, so a new one would lock bnpipe out: "
    "restore the file, or set a new password in MLflow and write it there "
    "(docs/team-stack.md, rotating a password)"
)


class CredentialsError(RuntimeError):
    """A credential file is missing and cannot safely be made again."""


def _missing(paths: list[Path], remedy: str) -> CredentialsError:
    names = ", ".join(str(p) for p in paths)
    return CredentialsError(f"{names} {'is' if len(paths) == 1 else 'are'} missing: {remedy}")


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (never readable by others, not even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def read_secret(path: Path, remedy: str, bad: str | None = None) -> str:
    """The one value in ``path``, checked before anyone is handed it: a missing file
    is named with ``remedy``, and so (with ``bad``, else ``remedy``) is one that is
    not UTF-8 text, is empty, or holds more than one line or a control character.
    The messages never show the value."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _missing([path], remedy) from None
    try:
        value = raw.decode("utf-8-sig").strip()  # a byte-order mark is no part of it
    except UnicodeDecodeError as exc:
        problem = f"is not UTF-8 text (byte {exc.start} cannot be decoded)"
    else:
        if not value:
            problem = "is empty"
        elif not value.isprintable():
            problem = "holds more than one line or a control character"
        else:
            return value
    raise CredentialsError(f"{path} {problem}: {bad or remedy}")


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
        return read_secret(self.mlflow_password_file(user), PASSWORD_GONE)

    @property
    def prefect_auth_string(self) -> str:
        """``USER:TOKEN``, as Prefect sends it (a file without both parts is named)."""
        new = f"{RESTART} to make a new one (every client then needs the new `bnpipe stack env`)"
        path = self.prefect_file
        value = read_secret(path, f"restore it, or {new}", f"restore it, or delete it and {new}")
        user, _, token = value.partition(":")
        if not user or not token:
            raise CredentialsError(
                f"{path} does not hold a Prefect auth string (USER:TOKEN, such as "
                f"{PREFECT_USER}:...): restore it, or delete it and {new}"
            )
        return value

    @property
    def flask_key(self) -> str:
        return read_secret(
            self.flask_key_file,
            f"{RESTART} makes a new one",
            f"delete it; {RESTART} makes a new one",
        )

    def secrets(self) -> list[str]:
        """Every generated secret value (for masking, and for tests that look for leaks)."""
        values = [self.mlflow_password(u) for u in MLFLOW_USERS]
        values += [self.prefect_auth_string.split(":", 1)[1], self.flask_key]
        return values

    # ------------------------------------------------------------------ making them

    def ensure(
        self,
        auth_database_uri: str,
        hosts: tuple[str, ...] = ("127.0.0.1",),
        *,
        prefect_in_use: bool = False,
    ) -> list[str]:
        """Generate whatever is missing; the names of what was made. Existing
        credentials are kept (rotation is a deliberate act: docs/team-stack.md).

        What something depends on already is not made again (CredentialsError):
        an MLflow password once the user store may hold its user, the Prefect auth
        string while its server runs (``prefect_in_use``), a CA that signed
        certificates still there. A missing certificate comes from the stack's CA."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        made = []
        gone = [u for u in MLFLOW_USERS if not self.mlflow_password_file(u).exists()]
        if gone and self._users_may_exist(auth_database_uri):
            raise _missing([self.mlflow_password_file(u) for u in gone], PASSWORD_GONE)
        for user in gone:
            write_secret(self.mlflow_password_file(user), _token() + "\n")
            made.append(f"MLflow {user} password")
        if not self.flask_key_file.exists():  # a new CSRF key only ends open UI sessions
            write_secret(self.flask_key_file, secrets.token_hex(32) + "\n")
        if not self.prefect_file.exists():
            if prefect_in_use:
                raise _missing(
                    [self.prefect_file],
                    f"the Prefect server runs with it: restore it, or {RESTART} to make a new "
                    "one (every client then needs the new `bnpipe stack env`)",
                )
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
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # a verified password is remembered (in memory, 60 s): without, every
            # request pays a scrypt check (~0.1-0.5 CPU-s), the most of a run's cost
            f"auth_cache_ttl_seconds = {AUTH_CACHE_SECONDS}\n",
        )
        return made + self._ensure_certificates(hosts)

    def _users_may_exist(self, auth_database_uri: str) -> bool:
        """MLflow's user store may hold users with the passwords made here: a SQLite
        store once its file exists, a database server's once any password was made."""
        if auth_database_uri.startswith("sqlite:///"):
            return Path(auth_database_uri.removeprefix("sqlite:///")).exists()
        return any(self.mlflow_password_file(u).exists() for u in MLFLOW_USERS)

    def _ensure_certificates(self, hosts: tuple[str, ...]) -> list[str]:
        """The CA and a certificate per role: a missing certificate (or its key)
        comes from the CA there; a new CA only when no certificate of the old is left."""
        files = {r: (self.cert(r), self.key(r)) for r in TLS_ROLES}
        roles = [r for r, pair in files.items() if not all(p.exists() for p in pair)]
        ca_gone = [p for p in (self.ca, self.ca_key) if not p.exists()]
        if ca_gone and any(p.exists() for pair in files.values() for p in pair):
            raise _missing(
                ca_gone,
                f"the stack's certificates in {self.tls_dir} were signed with it and no new "
                f"one can be: restore it, or remove {self.tls_dir} and {RESTART} (other hosts "
                "then need the new files)",
            )
        if not roles:
            return []
        make_certificates(self.tls_dir, hosts, roles)
        if ca_gone:
            return [f"Dask TLS certificates (CA, {', '.join(roles)})"]
        return [f"Dask TLS certificate{'s' if len(roles) > 1 else ''} ({', '.join(roles)})"]

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
        self._check_tls("client")
        return {
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(self.ca),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(self.cert("client")),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(self.key("client")),
        }

    def dask_security(self):
        """A Dask client's ``Security`` with the stack's client certificate."""
        from distributed.security import Security

        self._check_tls("client")
        return Security(
            tls_ca_file=str(self.ca), tls_client_cert=str(self.cert("client")),
            tls_client_key=str(self.key("client")), require_encryption=True,
        )  # fmt: skip

    def _check_tls(self, role: str) -> None:
        gone = [p for p in (self.ca, self.cert(role), self.key(role)) if not p.exists()]
        if gone:
            raise _missing(gone, f"restore it, or {RESTART} to make it again from the stack's CA")

    def dask_argv(self, role: str) -> list[str]:
        """Command-line options of ``dask scheduler`` / ``dask worker`` (paths only)."""
        return ["--tls-ca-file", str(self.ca), "--tls-cert", str(self.cert(role)),
                "--tls-key", str(self.key(role))]  # fmt: skip


def make_certificates(
    folder: Path, hosts: tuple[str, ...], roles: tuple[str, ...] | list[str] = TLS_ROLES
) -> None:
    """One certificate per role in ``roles`` for ``hosts`` (IP addresses or names),
    signed by the CA in ``folder``, which is made first (EC P-256) when it is not
    there. Keys 0600, certificates 0644."""
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

    def builder(subject: str, issuer: x509.Name, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        )

    ca_path, ca_key_path = folder / "ca.pem", folder / "ca-key.pem"
    if ca_path.exists() and ca_key_path.exists():
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bnpipe stack CA")])
        ca = (
            builder("bnpipe stack CA", ca_name, ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        write_secret(ca_key_path, key_pem(ca_key))
        ca_path.write_text(cert_pem(ca))
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in dict.fromkeys(("127.0.0.1", *hosts)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    for role in roles:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            builder(f"bnpipe dask {role}", ca.subject, key.public_key())
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

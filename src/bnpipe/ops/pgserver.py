"""PostgreSQL for the team stack (``bnpipe stack up --backend postgres``).

Two ways to have one:

* a team's own server, named by ``BNPIPE_POSTGRES_URL=postgresql://USER:PASSWORD@HOST:PORT``;
* the stack's own, from the distribution's packages: ``initdb`` into
  ``<state>/stack/postgres/data`` (as the ``postgres`` system user when bnpipe
  runs as root, since PostgreSQL refuses to run as root), listening on
  127.0.0.1:``BNPIPE_POSTGRES_PORT`` (5433) only, password authentication
  (scram-sha-256) for the role ``bnpipe`` with a generated password kept in
  ``<state>/stack/postgres/password`` (mode 0600).

Either way the databases ``prefect`` and ``mlflow`` are created when missing,
with the ``pg_trgm`` extension Prefect needs in its database. A password is
never printed: :meth:`PgUrl.masked` is what errors, logs and ``stack status``
show. psycopg2 is imported inside the functions that connect.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bnpipe.ops.credentials import CredentialsError, read_secret, write_secret

DATABASES = ("prefect", "mlflow", "mlflow_auth")  # mlflow_auth: the basic-auth user store
DEFAULT_PORT = 5433  # beside a system PostgreSQL on 5432
OWN_ROLE = "bnpipe"
SYSTEM_USER = "postgres"  # the distribution's account for the server's files


class PostgresError(RuntimeError):
    """PostgreSQL cannot be used: unreachable, refused, or cannot be set up."""


@dataclass(frozen=True)
class PgUrl:
    user: str
    password: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str, what: str = "BNPIPE_POSTGRES_URL") -> PgUrl:
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise PostgresError(
                f"{what} must look like postgresql://USER:PASSWORD@HOST:PORT, "
                f"not {cls._mask_text(url)!r}"
            )
        try:
            port = parts.port or 5432
        except ValueError:
            raise PostgresError(f"{what}: the port is not a number") from None
        return cls(
            user=urllib.parse.unquote(parts.username or ""),
            password=urllib.parse.unquote(parts.password or ""),
            host=parts.hostname,
            port=port,
        )

    @staticmethod
    def _mask_text(url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, database: str = "", driver: str = "") -> str:
        """``postgresql[+driver]://user:password@host:port/database`` (quoted)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        auth = urllib.parse.quote(self.user, safe="")
        if self.password:
            auth += ":" + urllib.parse.quote(self.password, safe="")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{database}"

    def masked(self, database: str = "", driver: str = "") -> str:
        """:meth:`url` with the password as ``***``: safe to print."""
        return self._mask_text(self.url(database, driver))


# ----------------------------------------------------------------------------- databases


def _connect(pg: PgUrl, database: str, timeout: float):
    import psycopg2

    try:
        return psycopg2.connect(
            host=pg.host, port=pg.port, user=pg.user, password=pg.password,
            dbname=database, connect_timeout=max(1, int(timeout)),
        )  # fmt: skip
    except psycopg2.OperationalError as exc:
        raise PostgresError(f"PostgreSQL at {pg.where}: {_reason(exc, pg)}") from None


def _reason(exc: BaseException, pg: PgUrl) -> str:
    """psycopg2's message in one line, without the password (it never holds one, but a
    URL-shaped message might)."""
    text = " ".join(str(exc).split())
    if pg.password:
        text = text.replace(pg.password, "***")
    if "password authentication failed" in text:
        return f'password authentication failed for user "{pg.user}"'
    if "Connection refused" in text:
        return "connection refused (is the server running, and listening on that address?)"
    if "timeout expired" in text:
        return "no answer within the connect timeout"
    return text.removeprefix("connection to server at ").strip()


def ensure_databases(pg: PgUrl, timeout: float = 5.0) -> list[str]:
    """Create the ``DATABASES`` (prefect, mlflow, mlflow_auth) when missing, and ``pg_trgm``
    in ``prefect``; returns the databases created. The role needs CREATEDB for a
    missing database (and the extension needs a role allowed to create it)."""
    import psycopg2

    created = []
    conn = _connect(pg, "postgres", timeout)
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            for name in DATABASES:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone():
                    continue
                try:
                    cur.execute(f'CREATE DATABASE "{name}"')
                except psycopg2.Error as exc:
                    raise PostgresError(
                        f"PostgreSQL at {pg.where}: cannot create database {name!r} as "
                        f"{pg.user!r} ({' '.join(str(exc).split())}); create it, or grant CREATEDB"
                    ) from None
                created.append(name)
    finally:
        conn.close()
    conn = _connect(pg, "prefect", timeout)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            try:
                cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except psycopg2.Error as exc:
                raise PostgresError(
                    f"PostgreSQL at {pg.where}: cannot create the extension pg_trgm in "
                    f"database 'prefect' ({' '.join(str(exc).split())}); a superuser can: "
                    "CREATE EXTENSION pg_trgm"
                ) from None
    finally:
        conn.close()
    return created


def ping(pg: PgUrl, database: str, timeout: float = 3.0) -> None:
    """Connect to ``database`` and leave (PostgresError when that fails)."""
    _connect(pg, database, timeout).close()


def count_rows(pg: PgUrl, database: str, table: str) -> int:
    """Rows of ``table`` in ``database`` (for checks and ``stack status``)."""
    conn = _connect(pg, database, 5.0)
    try:
        with conn.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM "{table}"')
            return int(cur.fetchone()[0])
    finally:
        conn.close()


# ----------------------------------------------------------------------------- the stack's own


def pg_bin(name: str) -> str:
    """A PostgreSQL server program (``initdb``, ``postgres``, ``pg_ctl``): the
    distribution keeps them in ``/usr/lib/postgresql/<version>/bin``, off PATH."""
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise PostgresError(
        f"PostgreSQL's {name} not found: install the distribution's package "
        "(apt-get install postgresql), or set BNPIPE_POSTGRES_URL to a server of your own"
    )


@dataclass(frozen=True)
class OwnServer:
    """The stack's own PostgreSQL: its folder, port and role."""

    home: Path  # <state>/stack/postgres
    port: int

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def pg_url(self) -> PgUrl:
        if not self.password_file.exists():
            raise PostgresError(
                f"the stack's PostgreSQL has no password file {self.password_file}: "
                f"remove {self.home} to start afresh (its databases go with it)"
            )
        try:
            password = read_secret(
                self.password_file,
                "restore it (its role has that password), or remove "
                f"{self.home} to start afresh (its databases go with it)",
            )
        except CredentialsError as exc:
            raise PostgresError(str(exc)) from None
        return PgUrl(OWN_ROLE, password, "127.0.0.1", self.port)

    def run_as(self) -> dict:
        """``subprocess`` keywords that run the server's programs as the system user
        when bnpipe is root (PostgreSQL refuses root), as the current user otherwise."""
        if os.geteuid() != 0:
            return {}
        return {"user": SYSTEM_USER, "group": SYSTEM_USER, "extra_groups": []}

    def init(self, log) -> None:
        """``initdb`` once: role ``bnpipe`` (superuser of this server) with a new
        password, scram-sha-256 on 127.0.0.1 only."""
        if self.initialised:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        write_secret(self.password_file, password + "\n")
        as_user = self.run_as()
        for d in (self.data_dir, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
            if as_user:
                shutil.chown(d, SYSTEM_USER, SYSTEM_USER)
        os.chmod(self.data_dir, 0o700)
        # initdb reads the password from a file the server's user can read; a copy,
        # removed at once (the kept one stays 0600 for bnpipe's user)
        pwfile = self.socket_dir / "initdb-password"
        write_secret(pwfile, password + "\n")
        if as_user:
            shutil.chown(pwfile, SYSTEM_USER, SYSTEM_USER)
        self._reachable_by_server()
        try:
            argv = [
                pg_bin("initdb"), "-D", str(self.data_dir), "-U", OWN_ROLE,
                f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                "--locale=C.UTF-8",
            ]  # fmt: skip
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                timeout=120, check=False, cwd=self.home, **as_user,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.data_dir)
            raise PostgresError(
                f"initdb of the stack's PostgreSQL failed (exit {done.returncode}); see {log.name}"
            )

    def argv(self) -> list[str]:
        return [
            pg_bin("postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1",
            "-p", str(self.port), "-k", str(self.socket_dir),
        ]  # fmt: skip

    def _reachable_by_server(self) -> None:
        """The server's user must reach its folder: every parent needs ``x`` for it."""
        if not self.run_as():
            return
        import pwd

        uid = pwd.getpwnam(SYSTEM_USER).pw_uid
        for parent in self.home.parents:
            st = parent.stat()
            if st.st_mode & 0o001 or st.st_uid == uid:
                continue
            raise PostgresError(
                f"the stack's PostgreSQL runs as the system user {SYSTEM_USER!r}, which "
                f"cannot enter {parent} (mode {oct(st.st_mode & 0o777)}): allow it "
                f"(chmod o+x {parent}) or set BNPIPE_STATE_DIR to a folder it can reach"
            )

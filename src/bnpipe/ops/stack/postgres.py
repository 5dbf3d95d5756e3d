"""The stack's PostgreSQL (``--backend postgres``): starting its own server, the
databases on a team's server, and whether they answer (:mod:`bnpipe.ops.pgserver`
does the PostgreSQL work)."""

from __future__ import annotations

from bnpipe.ops import pgserver
from bnpipe.ops.stack.components import POSTGRES
from bnpipe.ops.stack.config import HOST, StackConfig, StackError
from bnpipe.ops.stack.starter import Starter, done, step


def ensure_databases(cfg: StackConfig, after: str = "") -> None:
    """The ``prefect`` and ``mlflow`` databases (and pg_trgm) exist; else one line."""
    t = step(f"PostgreSQL databases on {cfg.pg_masked()}")
    try:
        created = pgserver.ensure_databases(cfg.pg(), timeout=10.0)
    except pgserver.PostgresError as exc:
        print(" failed", flush=True)
        raise StackError(f"{exc}. {after}".strip()) from None
    done(
        t, f"created {', '.join(created)}" if created else f"{', '.join(pgserver.DATABASES)} there"
    )


def start_own_postgres(cfg: StackConfig, starter: Starter) -> None:
    own = cfg.own_postgres
    t = step(f"PostgreSQL on {HOST}:{cfg.postgres_port} ({own.home})")
    with open(cfg.log_file(POSTGRES.name), "ab") as log:
        try:
            own.init(log)
        except pgserver.PostgresError as exc:
            raise StackError(str(exc)) from None
    starter.spawn(POSTGRES, own.argv(), **own.run_as())

    def answering() -> bool:
        try:
            pgserver.ensure_databases(own.pg_url(), timeout=2.0)
        except pgserver.PostgresError:
            return False
        return True

    starter.wait_for(POSTGRES, answering, "accepting connections")
    done(t)


def pg_problem(cfg: StackConfig) -> str | None:
    """None when both databases answer; else why not (no password in it)."""
    try:
        pg = cfg.pg()
        for database in pgserver.DATABASES:
            pgserver.ping(pg, database)
    except pgserver.PostgresError as exc:
        return str(exc)
    return None

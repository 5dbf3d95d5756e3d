"""The command line's errors and their one line on the terminal: a usage error
exits 2, bad data or a missing prerequisite 1."""

from __future__ import annotations

import os

from bnpipe.settings import Settings


class UsageError(Exception):
    """Bad command-line input: exit code 2."""


class DataError(Exception):
    """Bad data or a missing prerequisite: exit code 1."""


def error_line(exc: BaseException, settings: Settings | None = None) -> str:
    """One line for the terminal. A failed validation names the dataset, the
    column and the rule of its first failure (column rules before table rules),
    lists the rest, and says where the full report is (its summary has a line
    per failure)."""
    report = getattr(exc, "report", None)
    failures = getattr(report, "failures", None)
    if failures:
        # a column's own failure first: "column 'lstat' is missing" says more than the column list
        failures = sorted(failures, key=lambda f: f.column is None)
        line = f"{report.dataset}: validation failed against suite '{report.suite}': {failures[0].line()}"
        rest = failures[1:]
        if rest:
            where = ", ".join(
                f"{'table' if f.column is None else f'column {f.column!r}'} {f.rule}" for f in rest
            )
            line += f" (and {len(rest)} more: {where})"
        if settings is not None:
            line += f"; full report under {settings.reports_dir}"
        return line
    if refused := _prefect_refused(exc):
        return refused
    return str(exc).strip() or type(exc).__name__


def _prefect_refused(exc: BaseException) -> str | None:
    """A Prefect API's 401/403 (httpx's HTTPStatusError) in words, without the
    secret. The API is read off the refused request (whatever configured it:
    the core does not import Prefect)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    url = str(getattr(getattr(exc, "request", None), "url", "") or "")
    if status not in (401, 403) or "/api/" not in url:
        return None
    api = url.split("/api/", 1)[0] + "/api"
    sent = "its auth string" if os.environ.get("PREFECT_API_AUTH_STRING") else "no auth string"
    return (
        f"the Prefect API at {api} refused {sent} (HTTP {status}): set PREFECT_API_AUTH_STRING "
        "(`bnpipe stack env` prints it)"
    )

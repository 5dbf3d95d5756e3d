"""Check that downloaded bytes are a well-formed CSV with the catalog's separator,
and read a cached CSV as every stage after the download reads it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bnpipe.catalog import SEPARATORS
from bnpipe.ingest.fetching import DownloadError, redact


def check_csv(data: bytes, *, dataset: str, url: str, sep: str = ",") -> int:
    """Reject what is not a well-formed CSV separated by ``sep``; return its number of
    data rows. A header that is one field but holds another separator is refused
    with the ``sep:`` the catalog wants."""
    where = f"{dataset}: {redact(url)}"
    if not data.strip():
        raise DownloadError(f"{where}: empty body, expected a CSV")
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")) or b"<html" in head:
        raise DownloadError(f"{where}: got an HTML/XML page, not a CSV")
    if b"\x00" in data:
        raise DownloadError(f"{where}: binary content, not a CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DownloadError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    except csv.Error as exc:
        raise DownloadError(f"{where}: not a CSV ({exc})") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if rows and len(rows[0]) == 1:
        _refuse_other_separator(rows[0][0], sep, where)
    if len(rows) < 2:
        raise DownloadError(f"{where}: header only, no data rows")
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            last = number == len(rows)
            hint = " (truncated body?)" if last else ""
            raise DownloadError(
                f"{where}: line {number} has {len(row)} fields, the header has {width}{hint}",
                transient=last,  # a cut-off last line is worth another download
            )
    return len(rows) - 1


def _refuse_other_separator(header: str, sep: str, where: str) -> None:
    """A one-field header that another separator splits: the catalog's ``sep`` is wrong."""
    fields = {
        other: len(next(csv.reader([header], delimiter=other)))
        for other in SEPARATORS
        if other != sep and other in header
    }
    if not fields or max(fields.values()) < 2:
        return
    other = max(fields, key=lambda s: fields[s])
    shown = repr(other)  # '\t' for a tab
    setting = '"\\t"' if other == "\t" else repr(other)
    raise DownloadError(
        f"{where}: the header has one field but contains {shown}: the file looks "
        f"{shown}-separated; set sep: {setting} in the catalog"
    )


def read_csv(path: Path, sep: str = ","):
    """Read a cached CSV (separated by ``sep``, the catalog's) as every stage after
    download reads it; a UTF-8 BOM is dropped, CRLF line ends are fine."""
    import pandas as pd

    return pd.read_csv(path, encoding="utf-8-sig", sep=sep)

"""A CSV's field separator, picked from its first lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from bnpipe.catalog import SEPARATORS


def detect_separator(data: bytes | str, candidates: Sequence[str] = SEPARATORS) -> str:
    """The field separator of a CSV among ``, ; \\t |``: the one that splits the header
    into the most fields, consistently with the first data lines (``,`` when none
    splits it). A UTF-8 BOM and CRLF line ends are fine."""
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    text = text.lstrip("\ufeff")
    sample = text[:65536]
    cut = len(text) > len(sample)
    best, best_key = ",", (False, 1, 0.0)
    for sep in candidates:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=sep) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        body = rows[1:51] if not cut or len(rows) > 51 else rows[1:-1]
        fields = len(rows[0])
        if fields < 2:
            continue
        agree = sum(len(r) == fields for r in body) / len(body) if body else 1.0
        key = (agree >= 0.9, fields, agree)
        if key > best_key:
            best, best_key = sep, key
    return best

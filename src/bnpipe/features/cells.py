"""Reading the cells of a raw CSV column: blanks, numbers, dates and levels, and
the messages that name the rows a cell cannot be used in; headers matched across
Unicode normalization forms."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

_SHOWN = 5  # rows named in a message
FLOAT32_RULE = (
    "every value must be finite as the model's float32 input, after its scaling: "
    "no ±inf, nothing beyond ±3.4e+38"
)


def column_type(column: pd.Series) -> str:
    """The column's type as the served model's signature takes it: ``long``,
    ``double`` or ``string``."""
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return "string"
    return "long" if pd.api.types.is_integer_dtype(column) else "double"


def is_text(s: pd.Series) -> bool:
    """A column of text cells (object or string dtype)."""
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def blank_cells(s: pd.Series) -> np.ndarray:
    """Blank cells: missing values, and text that is empty or only spaces."""
    blank = s.isna().to_numpy(dtype=bool, copy=True)
    if is_text(s):
        stripped = s.astype(str).str.strip()
        blank |= (stripped == "").fillna(False).to_numpy(dtype=bool)
    return blank


def rows_named(labels) -> str:
    """``row 3``, ``rows 3, 5, 8, 9, 12 and 4 more``: rows by their index labels."""
    labels = list(labels)
    shown = ", ".join(map(str, labels[:_SHOWN]))
    more = f" and {len(labels) - _SHOWN} more" if len(labels) > _SHOWN else ""
    return f"{'row' if len(labels) == 1 else 'rows'} {shown}{more}"


def read_numbers(s: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as float64 (NaN where blank) and its blank cells.
    Text that is not a number raises a ``ValueError`` naming rows and values."""
    blank = blank_cells(s)
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan, copy=True), blank
    parsed = pd.to_numeric(s.where(~blank), errors="coerce")
    bad = parsed.isna().to_numpy(dtype=bool) & ~blank
    if bad.any():
        examples = ", ".join(repr(str(v)) for v in s[bad].iloc[:3])
        total = int(bad.sum())
        raise ValueError(
            f"column {name!r}: text in a numeric column, e.g. {rows_named(s.index[bad][:3])}: "
            f"{examples}" + (f" ({total} such cells)" if total > 3 else "")
        )
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan, copy=True), blank


def not_finite(name: str, s: pd.Series, bad: np.ndarray) -> ValueError:
    """The error for cells that are no finite float32 network input (``inf``, ``1e39``),
    naming the column, the rows (``s``' index labels) and the values."""
    examples = ", ".join(repr(str(v)) for v in s[bad].iloc[:3])
    total = int(bad.sum())
    return ValueError(
        f"column {name!r}: not a finite float32 number, e.g. {rows_named(s.index[bad][:3])}: "
        f"{examples}" + (f" ({total} such cells)" if total > 3 else "") + f" ({FLOAT32_RULE})"
    )


def spellings(name: str) -> list[str]:
    """``name`` and its other Unicode normalization form (NFC or NFD), if it has one."""
    return list(dict.fromkeys([name, *(unicodedata.normalize(f, name) for f in ("NFC", "NFD"))]))


def same_names(columns: Iterable, names: Iterable[str]) -> dict[str, str]:
    """Renames that give ``columns`` the spelling of ``names`` where the two differ only
    in Unicode normalization: a header typed in NFD (as macOS writes Hangul or
    accents) is the NFC name of the catalog and the model's signature. A column that
    is already one of ``names`` stays, and so do columns whose name is present in its
    own spelling or that two columns would take."""
    wanted = {unicodedata.normalize("NFC", n): n for n in names}
    present = {c for c in columns if isinstance(c, str)}
    renames = {}
    for c in present - set(wanted.values()):
        name = wanted.get(unicodedata.normalize("NFC", c))
        if name is not None and name not in present:
            renames[c] = name
    taken = Counter(renames.values())
    return {c: name for c, name in renames.items() if taken[name] == 1}


def read_dates(s: pd.Series) -> pd.Series:
    """A date column parsed; blank and unparseable cells are NaT."""
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = s.where(~blank_cells(s))
        if not is_text(s):
            s = s.astype(object)
        try:
            s = pd.to_datetime(s, errors="coerce", format="mixed")
        except (ValueError, TypeError):  # mixed time zones: compare them in UTC
            s = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
    return s


def date_part(parsed: pd.Series, part: str) -> np.ndarray:
    """One part (``DATE_PARTS``) of parsed dates as float64, NaN where NaT."""
    return getattr(parsed.dt, part).to_numpy(dtype=np.float64, na_value=np.nan, copy=True)


def refused(name: str, s: pd.Series, blank: np.ndarray, policy: str, what: str) -> ValueError:
    """The error for cells a column's ``missing`` policy does not take, naming the rows."""
    hint = {
        "error": "missing: error",
        "drop": "missing: drop; the model was trained without such rows",
    }.get(policy, f"missing: {policy}")
    return ValueError(f"column {name!r}: {what} in {rows_named(s.index[blank])} ({hint})")


def as_levels(values: np.ndarray, levels: list[str]) -> np.ndarray:
    """Values not among ``levels`` matched by their number: 1, "1" and "1.0" are one level
    (a column with blanks reads as floats, so its training levels may be "1.0")."""
    known = set(levels)
    out = values.copy()
    for value in {v for v in values.tolist() if isinstance(v, str) and v not in known}:
        try:
            number = float(value)
        except ValueError:
            continue
        if not np.isfinite(number):
            continue
        forms = [str(number)] + ([str(int(number))] if number.is_integer() else [])
        match = next((f for f in forms if f in known), None)
        if match is not None:
            out[values == value] = match
    return out

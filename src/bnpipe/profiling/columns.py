"""What one column is: the role of a feature candidate, decided from its values
(the rules: :mod:`bnpipe.profiling`)."""

from __future__ import annotations

import re
import warnings

import pandas as pd

from bnpipe.features.cells import blank_cells
from bnpipe.profiling.roles import ColumnRole
from bnpipe.profiling.words import quoted, shown

FREE_TEXT_MIN_DISTINCT = 20  # more distinct values than this ...
FREE_TEXT_UNIQUE_SHARE = 0.5  # ... and more than this share of the values seen once
DATE_SHARE = 0.9  # share of non-blank values that must parse (and look like dates)
ORDER_MIN_ROWS = 10  # numbered-in-order identifiers need at least this many rows

_ID_NAME = re.compile(
    r"^(id|idx|index|row|rownum|row_?num(ber)?|row_?id|key|uuid|guid|unnamed: ?\d+)$"
    r"|[_\-. ](id|idx|key|no)$",
    re.IGNORECASE,
)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key)$")  # PassengerId, userID, rowKey
_DATE_LIKE = re.compile(
    r"\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[-/]\d{1,2}[-/]\d{2,4}|\d{4}[-/]\d{1,2}\b|\d{1,2}:\d{2}"
)
_DATE_SAMPLE = 2000  # distinct values parsed to judge a text column


def column_role(series: pd.Series, name: str, *, min_frequency: int = 2) -> ColumnRole:
    """The role of one feature candidate (not the target, not excluded), with its reason.

    ``min_frequency``: levels of a text column seen fewer times are counted as rare."""
    rows = len(series)
    values = series[~blank_cells(series)]
    blanks = rows - len(values)
    counts = counts_of(values)
    distinct = len(counts)
    every_row = bool(rows >= 2 and blanks == 0 and distinct == rows)

    def role(kind: str, reason: str, **kw) -> ColumnRole:
        return ColumnRole(name, kind, reason, blanks=blanks, levels=distinct, **kw)

    if distinct == 0:
        return role("constant", "blank on every row")
    if distinct == 1:
        return role("constant", f"only {shown(counts.index[0])}")
    if is_bool(series, values):
        return role("categorical", "true/false", rare=int((counts < min_frequency).sum()))
    id_name = looks_like_id(name)
    if pd.api.types.is_numeric_dtype(series):
        if pd.api.types.is_integer_dtype(series):
            if every_row and id_name:
                return role("identifier", "distinct on every row, named like an id")
            numbered = _numbered(values) if every_row else ""
            if numbered:
                return role("identifier", f"distinct on every row, {numbered}")
            note = ""
            if every_row:
                note = "distinct on every row, but in no order and not named like an id: "
                note += "--exclude it if it is a row key"
            elif id_name:
                note = "named like an id, but values repeat: kept as a number"
            return role("numeric", f"whole numbers, {distinct} distinct", note=note)
        lo, hi = shown(values.min()), shown(values.max())
        return role("numeric", f"numbers from {lo} to {hi}")
    # text (or mixed) cells
    if every_row and id_name:
        return role("identifier", "distinct on every row, named like an id")
    date = _date_role(values)
    if date is not None:
        share, unparsed, has_time = date
        reason = f"{share:.0%} of the values parse as dates"
        return role("date", reason, unparsed=unparsed, has_time=has_time)
    note = _numbers_note(values)
    singles = int((counts == 1).sum())
    if distinct > FREE_TEXT_MIN_DISTINCT and singles > FREE_TEXT_UNIQUE_SHARE * len(values):
        return role("free_text", f"{singles} of {len(values)} values unique", note=note)
    frequent = int((counts >= min_frequency).sum())
    if frequent == 0 and distinct > 2:
        reason = f"{distinct} levels, none seen {min_frequency} times: too rare to learn from"
        return role("free_text", reason, note=note)
    return role("categorical", f"text with {distinct} levels", rare=distinct - frequent, note=note)


def looks_like_id(name: str) -> bool:
    """``id``, ``user_id``, ``PassengerId``, ``index``, ``row``, ``Unnamed: 0``..."""
    name = str(name).strip()
    return bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))


def _numbered(values: pd.Series) -> str:
    """Why distinct whole numbers look like row numbers, or ''."""
    if len(values) < ORDER_MIN_ROWS:
        return ""
    lo, hi = int(values.min()), int(values.max())
    if hi - lo + 1 == len(values):
        return f"the numbers {lo}..{hi}"
    if values.is_monotonic_increasing:
        return "increasing on every row"
    return ""


def _date_role(values: pd.Series) -> tuple[float, int, bool] | None:
    """(share of the values that are dates, values that are not, some carry a time of
    day) when the text is dates, else None."""
    if not len(values):
        return None
    text = values.astype(str)
    if text.str.contains(_DATE_LIKE, regex=True).mean() < DATE_SHARE:
        return None
    distinct = pd.Series(text.unique())
    if len(distinct) > _DATE_SAMPLE:  # judge on a sample first: dateutil is slow
        sample = distinct.sample(_DATE_SAMPLE, random_state=0)
        if _dates_in(sample).mean() < DATE_SHARE:
            return None
    parsed = parse_dates(distinct)
    ok = parsed.notna() & distinct.str.contains(_DATE_LIKE, regex=True)
    good = text.isin(set(distinct[ok]))
    share = float(good.mean())
    if share < DATE_SHARE:
        return None
    times = parsed[ok]
    has_time = bool((times.dt.hour.ne(0) | times.dt.minute.ne(0)).any())
    return share, int((~good).sum()), has_time


def _dates_in(text: pd.Series) -> pd.Series:
    return parse_dates(text).notna() & text.str.contains(_DATE_LIKE, regex=True)


def parse_dates(values: pd.Series) -> pd.Series:
    """``pd.to_datetime(format="mixed", errors="coerce")`` (mixed time zones: in UTC,
    without the zone)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, format="mixed", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(values, format="mixed", errors="coerce", utc=True)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert(None)
    return parsed


def _numbers_note(values: pd.Series) -> str:
    """Text that is mostly numbers: say which cells make it text."""
    numbers = pd.to_numeric(values, errors="coerce")
    share = float(numbers.notna().mean())
    if share < 0.9:
        return ""
    odd = list(dict.fromkeys(values[numbers.isna()].astype(str)))
    return f"{share:.0%} of the values are numbers, but {quoted(odd[:3])} make it text"


def is_bool(series: pd.Series, values: pd.Series) -> bool:
    """True/false cells: a bool column, or text cells (``values``: the non-blank ones)
    that are all Python bools."""
    if pd.api.types.is_bool_dtype(series):
        return True
    return series.dtype == object and bool(len(values)) and all(isinstance(v, bool) for v in values)


def counts_of(values: pd.Series) -> pd.Series:
    """How often each value occurs (unhashable cells counted by their ``repr``)."""
    try:
        return values.value_counts()
    except TypeError:  # unhashable cells
        return values.map(repr).value_counts()

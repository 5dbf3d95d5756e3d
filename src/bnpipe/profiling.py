"""What each column of a user's CSV is, decided from the data (``bnpipe dataset init``).

:func:`profile_frame` is pure: a frame in, a :class:`Profile` out, with one
:class:`ColumnRole` per column and a human reason for each choice. The roles:

- ``target``: the column to predict; never a feature. Rows with a blank target
  are counted (they are not trained on).
- ``excluded`` (left out): named by the user (``--exclude``): leaky columns.
- ``constant`` (left out): at most one distinct non-blank value.
- ``identifier`` (left out): whole numbers or text, distinct on every row, that look
  like a row key: numbered in order (``1..n`` in any order, or increasing on every
  row, from 10 rows on), or named like an id (``id``, ``*_id``, ``*Id``, ``index``,
  ``row``...). A float column is never an identifier (prices, lengths), and neither
  are distinct whole numbers in no order and not named like an id: nothing tells
  them from a quantity (a population, a price in cents), so they stay numeric and
  the reason says to ``--exclude`` them if they are a key.
- ``date``: text that parses as dates (>= 90% of the non-blank values, and they
  look like dates: digits with ``-``, ``/`` or ``:`` between them); encoded as parts.
- ``free_text`` (left out): text with many distinct values, most seen once (more
  than 20 distinct, more than half of the non-blank values unique), or text whose
  every level is too rare to learn from.
- ``categorical``: other text, and true/false columns (one-hot encoded).
- ``numeric``: the rest.

:func:`detect_separator` picks a CSV's field separator from its first lines.

:func:`choose_defaults` picks the dataset's training defaults (``defaults:`` in
``datasets.yaml``) that make the network learnable, each with its reason. A
column's *size* is the root mean square of its non-blank values (what the first
layer sees, or what the output unit must reach: sqrt(mean² + std²)):

- ``input_scaling: standard`` when the sizes of the numeric inputs (numeric
  features, and the year part of dates) differ by more than ``INPUT_SPREAD``
  (100x), or one is larger than ``INPUT_LARGE`` (1000: a volume of 10^6, a year);
  else ``none``. One-hot inputs are 0/1 and do not count.
- ``target_scaling: standard`` (regression) when the target's size is outside
  ``TARGET_SIZES`` (0.1 to 10): the output unit starts near 0 and RMSprop's steps
  of ~0.001 take thousands of epochs to reach ~650 (or to resolve ~0.001); else
  ``none``. The network then trains on the standardized target (fitted on training
  rows); metrics, plots and predictions stay in the target's units.

The notebook's datasets (boston, iris) have hand-written entries without
``defaults:``: they keep the notebook's setup (raw inputs and target).
"""

from __future__ import annotations

import csv
import io
import math
import re
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bnpipe.catalog import SEPARATORS

KEPT_ROLES = ("numeric", "categorical", "date")
LEFT_OUT_ROLES = ("identifier", "free_text", "constant", "excluded")

FREE_TEXT_MIN_DISTINCT = 20  # more distinct values than this ...
FREE_TEXT_UNIQUE_SHARE = 0.5  # ... and more than this share of the values seen once
DATE_SHARE = 0.9  # share of non-blank values that must parse (and look like dates)
ORDER_MIN_ROWS = 10  # numbered-in-order identifiers need at least this many rows
RARE_SHARE = 0.01  # categories under 1% of the rows (and at least 2 rows) are rare
MAX_LISTED = 5  # columns named in one comment before "and N more"
INPUT_SPREAD = 100.0  # inputs whose sizes differ more than this are standardized ...
INPUT_LARGE = 1000.0  # ... and so are inputs with one larger than this
TARGET_SIZES = (0.1, 10.0)  # a regression target sized outside this is standardized

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


class ColumnError(ValueError):
    """A column named on the command line that the data does not have."""


@dataclass(frozen=True)
class ColumnRole:
    """What one column is and why."""

    column: str
    role: str  # target, numeric, categorical, date, identifier, free_text, constant, excluded
    reason: str  # human words: "distinct on every row, named like an id"
    blanks: int = 0  # blank cells
    levels: int = 0  # distinct non-blank values
    rare: int = 0  # categorical: levels seen fewer than the profile's min_frequency times
    unparsed: int = 0  # date: non-blank values that do not parse as dates
    has_time: bool = False  # date: some values carry a time of day
    note: str = ""  # worth a look: "--exclude it if it is a row key"

    @property
    def kept(self) -> bool:
        return self.role in KEPT_ROLES

    @property
    def left_out(self) -> bool:
        return self.role in LEFT_OUT_ROLES

    def describe(self) -> str:
        """``one-hot (3 levels)``, ``left out: identifier (...)``: one summary line's words."""
        if self.role == "numeric":
            what = "numeric"
        elif self.role == "categorical":
            what = "one-hot (" + (
                "true/false" if self.reason == "true/false" else f"{self.levels} levels"
            )
            what += f", {self.rare} rare: they fold into other)" if self.rare else ")"
        elif self.role == "date":
            what = f"date parts ({', '.join(date_parts(self.has_time))})"
            if self.unparsed:
                what += f", {self.unparsed} values that are not dates"
        elif self.role == "target":
            what = f"target ({self.reason})"
        elif self.role == "excluded":
            what = "left out: --exclude"
        else:
            what = f"left out: {self.role.replace('_', ' ')} ({self.reason})"
        if self.blanks:
            what += f", {_cells(self.blanks)}"
        if self.note:
            what += f"; {self.note}"
        return what


@dataclass(frozen=True)
class Profile:
    """The roles of every column of a frame (CSV order), and the choices they imply."""

    rows: int
    target: str
    task: str
    task_reason: str  # why: "text with 3 classes"; "given with --task"
    columns: tuple[ColumnRole, ...]
    min_frequency: int  # 0: no categorical column has rare levels

    def role(self, column: str) -> ColumnRole:
        for c in self.columns:
            if c.column == column:
                return c
        raise KeyError(column)

    def _with(self, *roles: str) -> list[str]:
        return [c.column for c in self.columns if c.role in roles]

    @property
    def features(self) -> list[str]:
        return self._with(*KEPT_ROLES)

    @property
    def categorical(self) -> list[str]:
        return self._with("categorical")

    @property
    def dates(self) -> list[str]:
        return self._with("date")

    @property
    def left_out(self) -> list[ColumnRole]:
        return [c for c in self.columns if c.left_out]

    @property
    def target_blanks(self) -> int:
        return self.role(self.target).blanks

    @property
    def blank_features(self) -> dict[str, int]:
        """Kept features with blank (or, for dates, unreadable) cells -> their count."""
        return {
            c.column: c.blanks + c.unparsed
            for c in self.columns
            if c.kept and c.blanks + c.unparsed
        }

    @property
    def missing(self) -> str:
        """``impute`` when a kept feature (or the target) has blanks, else ``error``
        (under which a blank target would fail validation too)."""
        return "impute" if self.blank_features or self.target_blanks else "error"

    def target_note(self) -> str:
        n = self.target_blanks
        if not n:
            return ""
        rows = "1 row has" if n == 1 else f"{n} rows have"
        return f"{rows} a blank target: they are not trained on"

    def missing_note(self) -> str:
        """``size: 4 blank cells, city: 2 (training medians + indicator; a "missing"
        category)``, or why there is no imputation."""
        blanks = self.blank_features
        target = f"blank targets ({self.target_blanks}) are not trained on"
        if not blanks:
            if self.target_blanks:
                return f"no blank cells in the kept features; {target}"
            return "no blank cells in the kept features: a blank is a validation failure"
        text = f"{self.blank_counts()} ({self.imputation()})"
        return f"{text}; {target}" if self.target_blanks else text

    def blank_counts(self, short: bool = False) -> str:
        """``size: 4 blank cells, city: 2`` (``short``: ``size 4, city 2``), kept features."""
        items = list(self.blank_features.items())
        if short:
            return _listed([f"{c} {n}" for c, n in items])
        return _listed(
            [f"{c}: {_cells(n)}" if i == 0 else f"{c}: {n}" for i, (c, n) in enumerate(items)]
        )

    def imputation(self) -> str:
        """How the blank cells of the kept features are filled under ``impute``."""
        kinds = {self.role(c).role for c in self.blank_features}
        how = []
        if kinds & {"numeric", "date"}:
            how.append("training medians + indicator")
        if "categorical" in kinds:
            how.append('a "missing" category')
        return "; ".join(how)

    def left_out_note(self) -> str:
        """``flat_id (identifier: ...); notes (free text: ...); agent_fee (--exclude)``."""
        return "; ".join(_left_out(c) for c in self.left_out)

    def summary(self) -> list[str]:
        """One line per column (kept how, or left out why), then the blank cells and
        the missing policy."""
        width = min(24, max((len(c.column) for c in self.columns), default=0))
        lines = [f"  {c.column:<{width}}  {c.describe()}" for c in self.columns]
        if self.blank_features:
            lines.append(
                f"blank cells: {self.blank_counts(short=True)}; missing: {self.missing} "
                f"({self.imputation()})"
            )
        elif self.target_blanks:
            lines.append(f"blank cells: none in the kept features; missing: {self.missing}")
        else:
            lines.append(
                f"blank cells: none in the kept features; missing: {self.missing} "
                "(a blank is a validation failure)"
            )
        if self.min_frequency:
            rare = [f"{c.column}: {c.rare}" for c in self.columns if c.rare and c.kept]
            lines.append(
                f"min_frequency: {self.min_frequency}: categories seen fewer times in training "
                f'fold into "other" (rare levels: {_listed(rare)})'
            )
        if self.target_blanks:
            lines.append(self.target_note())
        return lines


def _left_out(c: ColumnRole) -> str:
    if c.role == "excluded":
        return f"{c.column} (--exclude)"
    return f"{c.column} ({c.role.replace('_', ' ')}: {c.reason})"


def date_parts(has_time: bool) -> list[str]:
    return ["year", "month", "day of week", *(["hour"] if has_time else [])]


# --------------------------------------------------------------------------- roles


def profile_frame(
    df: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    exclude: Iterable[str] = (),
) -> Profile:
    """The role of every column of ``df``; ``task`` None: inferred from the target.

    Raises :class:`ColumnError` when the target or an ``exclude`` name is not a
    column (the message lists the columns), or the target is excluded."""
    columns = [str(c) for c in df.columns]
    exclude = list(dict.fromkeys(exclude))
    if target not in columns:
        raise ColumnError(f"target {target!r} is not a column; columns: {', '.join(columns)}")
    unknown = [c for c in exclude if c not in columns]
    if unknown:
        raise ColumnError(
            f"--exclude names {_quoted(unknown)}, not a column; columns: {', '.join(columns)}"
        )
    if target in exclude:
        raise ColumnError(f"--exclude names the target {target!r}; it is never a feature anyway")
    rows = len(df)
    if task:
        task_reason = "given with --task"
    else:
        task, task_reason = infer_task_reason(df[target])
    threshold = rare_threshold(rows)
    roles: list[ColumnRole] = []
    for name in columns:
        series = df[name]
        if name == target:
            reason = f"{task}: {task_reason}"
            roles.append(ColumnRole(name, "target", reason, blanks=int(blank_cells(series).sum())))
        elif name in exclude:
            roles.append(ColumnRole(name, "excluded", "--exclude", blanks=int(series.isna().sum())))
        else:
            roles.append(column_role(series, name, min_frequency=threshold))
    rare_anywhere = any(c.role == "categorical" and c.rare for c in roles)
    return Profile(
        rows=rows,
        target=target,
        task=task,
        task_reason=task_reason,
        columns=tuple(roles),
        min_frequency=threshold if rare_anywhere else 0,
    )


def rare_threshold(rows: int) -> int:
    """Categories seen fewer times than this are rare: 1% of the rows, at least 2."""
    return max(2, math.ceil(RARE_SHARE * rows))


def column_role(series: pd.Series, name: str, *, min_frequency: int = 2) -> ColumnRole:
    """The role of one feature candidate (not the target, not excluded), with its reason.

    ``min_frequency``: levels of a text column seen fewer times are counted as rare."""
    rows = len(series)
    values = series[~blank_cells(series)]
    blanks = rows - len(values)
    counts = _counts(values)
    distinct = len(counts)
    every_row = bool(rows >= 2 and blanks == 0 and distinct == rows)

    def role(kind: str, reason: str, **kw) -> ColumnRole:
        return ColumnRole(name, kind, reason, blanks=blanks, levels=distinct, **kw)

    if distinct == 0:
        return role("constant", "blank on every row")
    if distinct == 1:
        return role("constant", f"only {_shown(counts.index[0])}")
    if _is_bool(series, values):
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
        lo, hi = _shown(values.min()), _shown(values.max())
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


def blank_cells(series: pd.Series) -> pd.Series:
    """Blank cells: missing values, and text that is empty or only spaces (as the
    Preprocessor counts them)."""
    blank = series.isna()
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        blank |= series.astype(str).str.strip().eq("") & series.notna()
    return blank


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
    return f"{share:.0%} of the values are numbers, but {_quoted(odd[:3])} make it text"


def _is_bool(series: pd.Series, values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    return series.dtype == object and bool(len(values)) and all(isinstance(v, bool) for v in values)


def _counts(values: pd.Series) -> pd.Series:
    try:
        return values.value_counts()
    except TypeError:  # unhashable cells
        return values.map(repr).value_counts()


# --------------------------------------------------------------------------- task


def infer_task(target: pd.Series) -> str:
    """Text, true/false, or a few whole-number codes is a class label; else a quantity."""
    return infer_task_reason(target)[0]


def infer_task_reason(target: pd.Series) -> tuple[str, str]:
    """(task, why): ``("classification", "text with 3 classes")``."""
    values = target.dropna()
    distinct = int(_counts(values).size)
    if _is_bool(target, values):
        return "classification", "true/false"
    if not pd.api.types.is_numeric_dtype(target):
        return "classification", f"text with {distinct} classes"
    whole = bool((values == values.round()).all())
    if whole and distinct <= 10:
        return "classification", f"whole numbers with {distinct} distinct values: class codes"
    return "regression", f"numbers with {distinct} distinct values"


# --------------------------------------------------------------------------- the catalog entry


def entry_comments(
    profile: Profile, *, sep: str = ",", suite_path: str = "", defaults: Defaults | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Comments for :func:`bnpipe.catalog.append_entry`: beside each field, and the
    lines written after ``features`` (what was left out, and why) and after
    ``defaults`` (why each was chosen)."""
    beside: dict[str, str] = {}
    if sep != ",":
        beside["sep"] = "detected from the header line"
    beside["task"] = (
        profile.task_reason
        if profile.task_reason == "given with --task"
        else f"inferred from the target: {profile.task_reason}"
    )
    if profile.target_blanks:
        beside["target"] = profile.target_note()
    kinds = [profile.role(c).role for c in profile.features]
    beside["features"] = ", ".join(
        f"{kinds.count(k)} {label}"
        for k, label in (("numeric", "numeric"), ("categorical", "one-hot"), ("date", "date"))
        if k in kinds
    )
    cats = [profile.role(c) for c in profile.categorical]
    if not cats:
        beside["categorical"] = "no text kept as a feature"
    elif len(cats) == 1:
        beside["categorical"] = _levels(cats[0])
    else:
        beside["categorical"] = _listed([f"{c.column}: {_levels(c, short=True)}" for c in cats])
    dates = [profile.role(c) for c in profile.dates]
    if dates:
        parts = date_parts(any(d.has_time for d in dates))
        beside["dates"] = "parsed dates -> " + ", ".join(parts)
    beside["missing"] = profile.missing_note()
    if profile.min_frequency:
        rare = [f"{c.column}: {c.rare}" for c in cats if c.rare]
        beside["min_frequency"] = (
            f'rarer categories fold into "other" (rare levels: {_listed(rare)})'
        )
    if suite_path:
        beside["suite"] = f"{suite_path}, drafted from {profile.rows} rows: review it"
    notes: dict[str, list[str]] = {}
    if defaults is not None and defaults.values:
        beside["defaults"] = "chosen from the data; bnpipe run's flags override them"
        notes["defaults"] = [f"{k} {v}: {defaults.reasons[k]}" for k, v in defaults.values.items()]
    if profile.left_out:
        one = "left out: " + profile.left_out_note()
        if len(one) <= 92:
            notes["features"] = [one]
        else:
            notes["features"] = ["left out:"] + [
                line
                for c in profile.left_out
                for line in textwrap.wrap(
                    _left_out(c), width=90, initial_indent="  ", subsequent_indent="    "
                )
            ]
    return beside, notes


def _levels(c: ColumnRole, short: bool = False) -> str:
    if c.reason == "true/false":
        return "true/false"
    return f"{c.levels} levels" if short else f"text with {c.levels} levels"


# --------------------------------------------------------------------------- training defaults


@dataclass(frozen=True)
class Defaults:
    """A dataset's training defaults (``values``: for ``defaults:`` in the catalog
    entry) and why each was chosen (``reasons``, by key)."""

    values: dict[str, object]
    reasons: dict[str, str]

    def summary(self) -> str:
        """``input_scaling standard (feature sizes differ by 10^3: volume ~1e6, open
        ~650); target_scaling standard (price ~650 ± 100)``."""
        return "; ".join(f"{k} {v} ({self.reasons[k]})" for k, v in self.values.items())


def choose_defaults(df: pd.DataFrame, profile: Profile) -> Defaults:
    """The training defaults of a new dataset, from its data (module docstring: the
    rules): input scaling by the sizes of the kept numeric inputs, target scaling
    (regression only) by the target's size."""
    values: dict[str, object] = {}
    reasons: dict[str, str] = {}
    values["input_scaling"], reasons["input_scaling"] = _input_scaling(df, profile)
    if profile.task == "regression":
        values["target_scaling"], reasons["target_scaling"] = _target_scaling(
            df[profile.target], profile.target
        )
    return Defaults(values, reasons)


def _input_scaling(df: pd.DataFrame, profile: Profile) -> tuple[str, str]:
    sizes: dict[str, float] = {}
    for c in profile.features:
        role = profile.role(c).role
        if role == "numeric":
            size = _size(df[c])
        elif role == "date":
            size = _size(parse_dates(df[c].where(~blank_cells(df[c])).astype(object)).dt.year)
            c = f"{c} (year)"
        else:
            continue
        if size > 0:
            sizes[c] = size
    if not sizes:
        return "none", "no numeric inputs: one-hot inputs are 0/1"
    largest, smallest = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
    big, small = sizes[largest], sizes[smallest]
    spread = big / small
    named = f"{largest} ~{_about(big)}" + (
        f", {smallest} ~{_about(small)}" if smallest != largest else ""
    )
    if spread > INPUT_SPREAD:
        return "standard", f"feature sizes differ by 10^{round(math.log10(spread))}: {named}"
    if big > INPUT_LARGE:
        return "standard", f"features as large as ~{_about(big)}: {largest}"
    if len(sizes) == 1:
        return "none", f"one numeric input, of size ~{_about(big)}: {named}"
    return "none", f"feature sizes within {_ratio(spread)}x of each other: {named}"


def _target_scaling(target: pd.Series, name: str) -> tuple[str, str]:
    y = _finite(target)
    if not len(y):
        return "none", "no target values to judge"
    mean, std = float(y.mean()), float(y.std())
    size = math.hypot(mean, std)
    shown = f"{name} ~{_about(mean)} ± {_about(std)}"
    low, high = TARGET_SIZES
    if size > high or size < low:
        return "standard", shown
    return "none", f"{shown}: near unit scale"


def _finite(values: pd.Series) -> np.ndarray:
    """The finite numbers of a column, as float64 (blanks, text and inf left out)."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return x[np.isfinite(x)]


def _size(values: pd.Series) -> float:
    """Root mean square of the finite values (0 when there are none)."""
    x = _finite(values)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def _about(x: float) -> str:
    """Two significant digits, short: ``1e6``, ``650``, ``22``, ``0.56``, ``3e-4``, ``-12``."""
    if not math.isfinite(x):
        return str(x)
    sign, r = ("-" if x < 0 else ""), float(f"{abs(x):.2g}")
    if r == 0:
        return "0"
    if r >= 1e4 or r < 1e-2:
        mantissa, exponent = f"{r:.0e}".split("e")
        return f"{sign}{mantissa}e{int(exponent)}"
    return f"{sign}{r:.0f}" if r >= 100 else f"{sign}{r:g}"


def _ratio(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- separators


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


# --------------------------------------------------------------------------- words


def _cells(n: int) -> str:
    return f"{n} blank cell{'s' if n != 1 else ''}"


def _shown(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return repr(value)
    try:
        return f"{value:g}" if isinstance(value, float) else str(value)
    except (TypeError, ValueError):
        return str(value)


def _quoted(items: Sequence) -> str:
    return ", ".join(repr(str(i)) for i in items)


def _listed(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"

"""The records of a profile: one :class:`ColumnRole` per column and the
:class:`Profile` of a frame, with the summary lines ``bnpipe dataset init`` prints."""

from __future__ import annotations

from dataclasses import dataclass

from bnpipe.profiling.words import cells, listed

KEPT_ROLES = ("numeric", "categorical", "date")
LEFT_OUT_ROLES = ("identifier", "free_text", "constant", "excluded")


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
            what += f", {cells(self.blanks)}"
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
            return listed([f"{c} {n}" for c, n in items])
        return listed(
            [f"{c}: {cells(n)}" if i == 0 else f"{c}: {n}" for i, (c, n) in enumerate(items)]
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
        return "; ".join(left_out_reason(c) for c in self.left_out)

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
                f'fold into "other" (rare levels: {listed(rare)})'
            )
        if self.target_blanks:
            lines.append(self.target_note())
        return lines


def left_out_reason(c: ColumnRole) -> str:
    """``flat_id (identifier: ...)``, ``agent_fee (--exclude)``: why a column is left out."""
    if c.role == "excluded":
        return f"{c.column} (--exclude)"
    return f"{c.column} ({c.role.replace('_', ' ')}: {c.reason})"


def date_parts(has_time: bool) -> list[str]:
    """The parts a date column is encoded as (hour when some values carry a time)."""
    return ["year", "month", "day of week", *(["hour"] if has_time else [])]

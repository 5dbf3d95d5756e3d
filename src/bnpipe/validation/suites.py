"""Expectation suites as data: read and write a suite's JSON, the rule names
bnpipe treats specially, and which columns each expectation needs."""

from __future__ import annotations

import json
from pathlib import Path

from bnpipe.files import write_atomically
from bnpipe.validation import sanity

_MISSING_COLUMN_RULE = "expect_column_to_exist"
_DUPLICATES_RULE = "expect_compound_columns_to_be_unique"
_UNIQUE_COUNT_RULE = "expect_column_unique_value_count_to_be_between"
_TABLE_COLUMNS_RULES = (
    "expect_table_columns_to_match_ordered_list",
    "expect_table_columns_to_match_set",
)


def load_suite(path: Path) -> dict:
    """Read a suite JSON file and check its outline (name, expectations with types)."""
    path = Path(path)
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read expectation suite {path}: {exc}") from exc
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise ValueError(f"expectation suite {path} has no 'expectations' list")
    for i, exp in enumerate(suite["expectations"]):
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise ValueError(f"expectation suite {path}: expectation #{i} has no 'type'")
    suite.setdefault("name", path.stem)
    return suite


def write_suite(suite: dict, path: Path) -> None:
    """Write ``suite`` as JSON at ``path``, whole or not at all (a temporary file
    replaces it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(suite, indent=2, ensure_ascii=False) + "\n")


def _with_kwargs(expectation: dict) -> dict:
    return {**expectation, "kwargs": dict(expectation.get("kwargs") or {})}


def _is_custom(expectation: dict) -> bool:
    return expectation["type"].startswith(sanity.CUSTOM_PREFIX)


def _columns_of(expectation: dict) -> list[str]:
    """The columns an expectation needs present (the table-columns rules judge the
    column list themselves)."""
    kw = expectation["kwargs"]
    columns = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
    if expectation["type"] not in _TABLE_COLUMNS_RULES:
        columns += list(kw.get("column_list") or [])
    return [str(c) for c in columns]


def _suite_order(expectations: list[dict]) -> dict:
    """Position of each (rule, column) and each column's first rule, to sort failures."""
    order: dict = {}
    for i, e in enumerate(expectations):
        column = e["kwargs"].get("column")
        order.setdefault((e["type"], column), i)
        order.setdefault(column, i)
        if column is not None:
            order.setdefault((_MISSING_COLUMN_RULE, column), i)
    for i, e in enumerate(expectations):  # columns named only in a rule's column list
        for column in _columns_of(e):
            order.setdefault((_MISSING_COLUMN_RULE, column), i)
    return order

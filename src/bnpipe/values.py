"""Plain, JSON-safe values for the validation reports.

Small helpers shared by :mod:`bnpipe.validation` (GX results), :mod:`bnpipe.validation.sanity`
(bnpipe's own rules) and :mod:`bnpipe.drafting` (suites drafted from data): numpy and
pandas scalars unwrapped, NaN as None, +-inf as strings, a few distinct examples.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pandas as pd

MAX_EXAMPLES = 5  # offending values kept per failure


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _sorted(values: list) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed types
        return sorted(values, key=str)


def _number(value: Any) -> Any:
    value = _plain(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _join(values) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _examples(values: list) -> list:
    """Up to MAX_EXAMPLES distinct values, JSON-safe (+-inf as the strings "inf"/"-inf")."""
    plain = (_json_safe(_plain(v)) for v in values)
    return _unique_by_key(plain, lambda v: json.dumps(v, sort_keys=True, default=str))[
        :MAX_EXAMPLES
    ]


def _unique_by_key(values, key) -> list:
    seen: dict = {}
    for value in values:
        seen.setdefault(key(value), value)
    return list(seen.values())


def _json_safe(value: Any) -> Any:
    """JSON has no infinity: +-inf become "inf"/"-inf" (in lists and dicts too)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A JSON-serializable python scalar (numpy scalars unwrapped, NaN/NA -> None);
    lists and dicts (a row of a compound rule) element by element."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    with contextlib.suppress(TypeError, ValueError):
        if pd.isna(value):
            return None
    return str(value)

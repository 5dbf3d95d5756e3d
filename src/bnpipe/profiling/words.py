"""The human words a profile's reasons and comments are written in: counts, values, lists."""

from __future__ import annotations

from collections.abc import Sequence

MAX_LISTED = 5  # columns named in one comment before "and N more"


def cells(n: int) -> str:
    """``1 blank cell``, ``4 blank cells``."""
    return f"{n} blank cell{'s' if n != 1 else ''}"


def shown(value) -> str:
    """A cell value as a reason shows it: ``3``, ``2.5``, ``'red'``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return repr(value)
    try:
        return f"{value:g}" if isinstance(value, float) else str(value)
    except (TypeError, ValueError):
        return str(value)


def quoted(items: Sequence) -> str:
    """``'a', 'b'``."""
    return ", ".join(repr(str(i)) for i in items)


def listed(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c``; past ``limit`` items, ``a, b and 3 more``."""
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"

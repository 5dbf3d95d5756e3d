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

The modules, one job each:

- :mod:`~bnpipe.profiling.roles`: the :class:`ColumnRole` and :class:`Profile`
  records and their summary lines;
- :mod:`~bnpipe.profiling.columns`: the role of one column, from its values;
- :mod:`~bnpipe.profiling.frame`: the profile of a whole frame, and the task a
  target implies (:func:`infer_task`);
- :mod:`~bnpipe.profiling.defaults`: the training defaults the data calls for
  (:func:`choose_defaults`);
- :mod:`~bnpipe.profiling.entry`: the comments of the catalog entry
  (:func:`entry_comments`);
- :mod:`~bnpipe.profiling.separators`: a CSV's field separator
  (:func:`detect_separator`);
- :mod:`~bnpipe.profiling.words`: the human words the reasons are written in.

The notebook's datasets (boston, iris) have hand-written entries without
``defaults:``: they keep the notebook's setup (raw inputs and target).
"""

from __future__ import annotations

from bnpipe.profiling.columns import (
    DATE_SHARE,
    FREE_TEXT_MIN_DISTINCT,
    FREE_TEXT_UNIQUE_SHARE,
    ORDER_MIN_ROWS,
    blank_cells,
    column_role,
    looks_like_id,
    parse_dates,
)
from bnpipe.profiling.defaults import (
    INPUT_LARGE,
    INPUT_SPREAD,
    TARGET_SIZES,
    Defaults,
    choose_defaults,
)
from bnpipe.profiling.entry import entry_comments
from bnpipe.profiling.frame import (
    RARE_SHARE,
    ColumnError,
    infer_task,
    infer_task_reason,
    profile_frame,
    rare_threshold,
)
from bnpipe.profiling.roles import KEPT_ROLES, LEFT_OUT_ROLES, ColumnRole, Profile, date_parts
from bnpipe.profiling.separators import detect_separator
from bnpipe.profiling.words import MAX_LISTED

__all__ = [
    "DATE_SHARE",
    "FREE_TEXT_MIN_DISTINCT",
    "FREE_TEXT_UNIQUE_SHARE",
    "INPUT_LARGE",
    "INPUT_SPREAD",
    "KEPT_ROLES",
    "LEFT_OUT_ROLES",
    "MAX_LISTED",
    "ORDER_MIN_ROWS",
    "RARE_SHARE",
    "TARGET_SIZES",
    "ColumnError",
    "ColumnRole",
    "Defaults",
    "Profile",
    "blank_cells",
    "choose_defaults",
    "column_role",
    "date_parts",
    "detect_separator",
    "entry_comments",
    "infer_task",
    "infer_task_reason",
    "looks_like_id",
    "parse_dates",
    "profile_frame",
    "rare_threshold",
]

"""Split, encode and scale: raw DataFrame rows in, float32 arrays out.

The fitted :class:`Preprocessor` is plain data (``to_dict``/``from_dict``) and
is logged with every model, so the served model takes raw CSV rows and applies
exactly the training-time transformation.

Blank cells follow the catalog's ``missing`` policy of their column, fitted on
training rows only and kept in the Preprocessor so served rows get the same
treatment:

* ``impute``: a numeric (or date) feature's blanks take the training median,
  plus a 0/1 input ``<col>__missing`` when the training rows had blanks there;
  a categorical feature's blanks are the level ``__missing__``.
* ``drop``: :func:`encode` removes training rows with a blank there; a served
  row with one is refused.
* ``error``: a blank is refused (a ``ValueError`` naming the column and rows).

Rows whose target is blank are never trained on. Error messages name rows by
the frame's index labels (:func:`encode` numbers them as CSV lines). Rows to
score (:meth:`Preprocessor.transform_x`) are refused, by column and row, where a
value is no finite float32 input after scaling (``inf``, ``1e39``), and headers
that differ from the training names only in Unicode normalization (NFD for NFC)
are those columns.

A regression target can be standardized (``target_scaling="standard"``): its
mean and standard deviation are fitted on training rows, the network trains on
``(y - mean) / std`` (so its loss and val_loss are in those units), and
:meth:`Preprocessor.inverse_y` maps its outputs back. Everything shown (test
metrics, predictions, plots, the served model's ``prediction``) is in the
target's own units.

The modules, one job each: :mod:`~bnpipe.features.splitting` (the frame and its
split), :mod:`~bnpipe.features.cells` (reading blanks, numbers, dates and levels),
:mod:`~bnpipe.features.preprocessor` (the :class:`Preprocessor`),
:mod:`~bnpipe.features.saved` (its saved form and format versions) and
:mod:`~bnpipe.features.encoding` (a dataset encoded for training).
"""

from __future__ import annotations

from bnpipe.features.cells import blank_cells
from bnpipe.features.encoding import ROWS_ARE_LINES, DataError, Encoded, encode
from bnpipe.features.preprocessor import (
    DATE_PARTS,
    INDICATOR,
    MISSING_LEVEL,
    OTHER_LEVEL,
    Preprocessor,
)
from bnpipe.features.saved import FORMAT
from bnpipe.features.splitting import SPLIT_FRACTIONS, Split, prepare, split

__all__ = [
    "DATE_PARTS",
    "FORMAT",
    "INDICATOR",
    "MISSING_LEVEL",
    "OTHER_LEVEL",
    "ROWS_ARE_LINES",
    "SPLIT_FRACTIONS",
    "DataError",
    "Encoded",
    "Preprocessor",
    "Split",
    "blank_cells",
    "encode",
    "prepare",
    "split",
]

"""Great Expectations plumbing: one ephemeral context per process, a suite built
expectation by expectation (a broken one fails loudly), validated in batches of
columns (linear in a table's width)."""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

import pandas as pd

from bnpipe.settings import telemetry_off

_GX_LOCK = threading.Lock()  # one GX context per process; don't interleave runs on it


def _gx():
    telemetry_off()
    import great_expectations as gx

    return gx


@functools.lru_cache(maxsize=1)
def _batch_definition():
    """An ephemeral context with one pandas dataframe asset, built once per process."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # "Created temporary directory ... for ephemeral docs site": GX's INFO line about
    # Data Docs, which bnpipe never builds.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("bnpipe").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole frame")


def preload() -> None:
    """Import GX and build its context now (~5 CPU-s on the dev machine), e.g. while
    other processes start, instead of inside the first validation."""
    _batch_definition()


def _built(expectations: list[dict], source: Path) -> list:
    """GX expectation objects, each built by hand: a broken one fails loudly."""
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    built = []
    for i, e in enumerate(expectations):
        config = ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e.get("meta"))
        try:
            built.append(config.to_domain_obj())
        except Exception as exc:  # unknown type, bad kwargs: a broken suite, not bad data
            raise ValueError(
                f"expectation suite {source}: #{i} {e['type']} is invalid: {exc}"
            ) from exc
    return built


#: Columns per GX batch. GX's pandas engine works on the whole batch's frame for
#: every expectation (a row filter copies every column, ``table.column_types``
#: lists every column), so one batch of a wide table costs columns x expectations:
#: quadratic in width. Batches of this many columns keep it linear.
GROUP_COLUMNS = 50

_SUMMARY = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
_BOOLEAN = {"result_format": "BOOLEAN_ONLY"}


def _groups(df: pd.DataFrame, expectations: list[dict]) -> list[tuple[pd.DataFrame, list[int]]]:
    """The expectations (by index) split into batches: those on one column, by
    ``GROUP_COLUMNS`` columns at a time with a frame of only those columns; the rest
    (table rules, several columns, a column not in the frame) on the whole frame."""
    labels = {str(c): c for c in df.columns}
    whole: list[int] = []
    by_column: dict[str, list[int]] = {}
    for i, e in enumerate(expectations):
        kw = e["kwargs"]
        column = kw.get("column")
        several = {"column_list", "column_A", "column_B"} & kw.keys()
        if column is None or several or str(column) not in labels:
            whole.append(i)
        else:
            by_column.setdefault(str(column), []).append(i)
    groups = [(df, whole)] if whole else []
    columns = [c for c in labels if c in by_column]  # the frame's order
    for start in range(0, len(columns), GROUP_COLUMNS):
        part = columns[start : start + GROUP_COLUMNS]
        # .copy(): one consolidated block, so GX's row filters take once, not per column
        frame = df[[labels[c] for c in part]].copy()
        groups.append((frame, [i for c in part for i in by_column[c]]))
    return groups


def _run_gx(df: pd.DataFrame, expectations: list[dict], *, name: str, source: Path) -> list:
    """GX's results for ``expectations`` on ``df``: batches of columns
    (:func:`_groups`), each validated first for pass/fail alone (GX then skips
    collecting offending rows and values); the failed ones again with a summary
    of what offends, for the report."""
    if not expectations:
        return []
    gx = _gx()
    built = _built(expectations, source)
    results = []
    with _GX_LOCK:
        for frame, members in _groups(df, expectations):
            batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
            suite = gx.ExpectationSuite(name=name, expectations=[built[i] for i in members])
            quick = batch.validate(suite, result_format=_BOOLEAN).results
            results += [r for r in quick if r.success]
            failed = [r.expectation_config for r in quick if not r.success]
            if failed:
                again = gx.ExpectationSuite(
                    name=name, expectations=[c.to_domain_obj() for c in failed]
                )
                results += batch.validate(again, result_format=_SUMMARY).results
    return results

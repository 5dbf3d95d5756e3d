"""Great Expectations plumbing: one ephemeral context per process, a suite built
expectation by expectation (a broken one fails loudly), and one validation run."""

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


def _build_suite(expectations: list[dict], name: str, source: Path):
    gx = _gx()
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
    return gx.ExpectationSuite(name=name, expectations=built)


def _run_gx(df: pd.DataFrame, expectations: list[dict], *, name: str, source: Path) -> list:
    if not expectations:
        return []
    suite = _build_suite(expectations, name, source)
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
    with _GX_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
        return list(batch.validate(suite, result_format=result_format).results)

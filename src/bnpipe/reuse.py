"""Reuse of a comparison already done: when the data, the catalog entry, the suite,
the parameters and the code are all the same as an earlier FINISHED comparison's
(the same ``comparison_key``), there is nothing to retrain.

A finished comparison keeps its outcome as data (``result.json`` on its parent
run: the JSON form of the :class:`~bnpipe.results.ComparisonResult` that
``bnpipe run`` prints its table from), so a skipped run shows the earlier table
without re-parsing any text. ``--force`` retrains anyway.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from bnpipe.results import ComparisonResult, Reused

KEY_TAG = "comparison_key"
RESULT_FILE = "result.json"
UNCHANGED = "unchanged"  # the outcome of a skipped comparison


def find_finished(
    client, experiment_id: str, key: str, *, registered: bool
) -> ComparisonResult | None:
    """The result of the newest FINISHED parent run tagged ``key`` that kept its
    ``result.json``; with ``registered``, only a run that registered a version
    counts (a ``--no-register`` run does not stand in for one that registers)."""
    runs = client.search_runs(
        [experiment_id],
        f"attributes.status = 'FINISHED' and tags.{KEY_TAG} = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    for run in runs:
        if "mlflow.parentRunId" in run.data.tags:
            continue
        try:
            result = _load(client, run.info.run_id)
        except Exception:  # noqa: BLE001 - a run from before results were kept, or pruned
            continue
        if registered and result.promotion is None:
            continue
        return result
    return None


def _load(client, run_id: str) -> ComparisonResult:
    with tempfile.TemporaryDirectory(prefix="bnpipe-result-") as tmp:
        path = client.download_artifacts(run_id, RESULT_FILE, tmp)
        return ComparisonResult.from_dict(json.loads(Path(path).read_text("utf-8")))


def unchanged(earlier: ComparisonResult, key: str, link: str | None = None) -> ComparisonResult:
    """The outcome of a comparison skipped because ``earlier`` did the same work."""
    line = (
        f"{earlier.dataset}: unchanged since run {earlier.run_id} "
        f"(data {earlier.data_sha256[:12]}, same parameters and code): nothing to retrain"
    )
    reused = Reused(earlier.outcome, key, line, line + (f" ({link})" if link else ""))
    return dataclasses.replace(earlier, outcome=UNCHANGED, reused=reused)

"""Is the network worth it? The baseline and the linear model on the same test rows."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import references
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import ComparisonSummary, SeedResult
from bnpipe.features import Encoded
from bnpipe.tracking import ParentRun


@task(name="references", cache_policy=NO_CACHE)
def compare_with_references(
    parent: ParentRun,
    spec: DatasetSpec,
    data: Encoded,
    results: Sequence[SeedResult],
    summary: ComparisonSummary,
) -> tuple[references.References, dict[str, str], str | None]:
    """Fit the trivial baseline (training mean / class prior) and a linear model
    (ridge / logistic regression, standardized features) on the same encoded rows;
    log ``baseline_<metric>``/``linear_<metric>`` and the verdicts of each variant's
    best seed against them (paired over the test rows); say so when no variant
    beats the baseline."""
    refs, verdicts, headline = references.assess(spec.name, data, results, summary)
    parent.log_metrics(references.parent_metrics(refs))
    parent.tag(verdicts)
    logger = get_run_logger()
    logger.info(
        "%s: baseline %s=%.4g, linear %.4g (%.2f s); %s",
        spec.name,
        summary.primary,
        refs.baseline_metrics[summary.primary],
        refs.linear_metrics[summary.primary],
        refs.seconds,
        ", ".join(f"{k}={v}" for k, v in verdicts.items()),
    )
    if headline:
        logger.warning(headline)
    return refs, verdicts, headline

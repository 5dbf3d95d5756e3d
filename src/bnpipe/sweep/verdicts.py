"""A cell's verdict: the paired bn - plain comparison over its seeds, a diverged
seed counted as the cell's worst value, the p-value adjusted across the cells
(:mod:`bnpipe.stats.multiplicity`), the best cell by the leader rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bnpipe.stats import multiplicity
from bnpipe.sweep.grid import Cell

# --------------------------------------------------------------------------- judgement


@dataclass
class CellVerdict:
    """One cell's paired comparison, after the adjustment across cells."""

    cell: Cell
    metric: str
    higher_is_better: bool
    mean: float  # bn - plain, diverged seeds counted as the cell's worst value
    ci_low: float
    ci_high: float
    n: int
    p_value: float
    p_adjusted: float = math.nan
    winner: str = "tie"
    divergence: dict[str, float] = field(default_factory=dict)  # variant -> share of seeds

    @property
    def all_diverged(self) -> bool:
        """Every seed of both variants diverged: nothing to compare (verdict "diverged")."""
        return bool(self.divergence) and all(r >= 1.0 for r in self.divergence.values())

    def metrics(self) -> dict[str, float]:
        """The cell run's judgement metrics (``bn_minus_plain_<metric>_...``)."""
        base = f"bn_minus_plain_{self.metric}"
        return {
            f"{base}_mean": self.mean,
            f"{base}_ci_low": self.ci_low,
            f"{base}_ci_high": self.ci_high,
            f"{base}_p_value": self.p_value,
            f"{base}_p_adjusted": self.p_adjusted,
            **{f"{v}_diverged_rate": r for v, r in self.divergence.items()},
        }


def worst_case_values(
    per_seed: Mapping[str, Mapping[int, float]], higher_is_better: bool
) -> dict[str, dict[int, float]]:
    """``variant -> seed -> value`` with every non-finite value (a diverged seed)
    replaced by the worst finite value of the cell; NaN when none is finite."""
    finite = [v for seeds in per_seed.values() for v in seeds.values() if math.isfinite(v)]
    worst = (min(finite) if higher_is_better else max(finite)) if finite else math.nan
    return {
        variant: {s: (v if math.isfinite(v) else worst) for s, v in seeds.items()}
        for variant, seeds in per_seed.items()
    }


def judge_cell(
    cell: Cell, per_seed: Mapping[str, Mapping[int, float]], metric: str, higher_is_better: bool
) -> CellVerdict:
    """The unadjusted comparison of one cell; ``per_seed``: variant -> seed -> metric."""
    from bnpipe import stats

    divergence = {
        v: (sum(1 for x in seeds.values() if not math.isfinite(x)) / len(seeds) if seeds else 0.0)
        for v, seeds in per_seed.items()
    }
    values = worst_case_values(per_seed, higher_is_better)
    seeds = sorted(set(values.get("plain", {})) & set(values.get("bn", {})))
    plain = [values["plain"][s] for s in seeds]
    bn = [values["bn"][s] for s in seeds]
    iv = stats.paired_t_interval(plain, bn, metric=metric)
    p = multiplicity.paired_t_pvalue([b - a for a, b in zip(plain, bn, strict=True)])
    return CellVerdict(
        cell, metric, higher_is_better, iv.mean, iv.ci_low, iv.ci_high, iv.n, p,
        divergence=divergence,
    )  # fmt: skip


def adjust_verdicts(
    verdicts: Sequence[CellVerdict], correction: str = "holm", alpha: float = multiplicity.ALPHA
) -> list[CellVerdict]:
    """Adjust the cells' p-values together and name each cell's winner. A cell in
    which every seed diverged has no p-value: it is left out of the family (no
    test was made there) and its verdict is "diverged", not a tie."""
    adjusted = multiplicity.adjust(
        [math.nan if v.all_diverged else v.p_value for v in verdicts], correction
    )
    for v, p in zip(verdicts, adjusted, strict=True):
        v.p_adjusted = p
        if v.all_diverged:
            v.winner = "diverged"
        elif math.isfinite(p) and p < alpha and v.mean != 0:
            bn_better = v.mean > 0 if v.higher_is_better else v.mean < 0
            v.winner = "bn" if bn_better else "plain"
        else:
            v.winner = "tie"
    return list(verdicts)


def leader_score(task: str, record: Mapping) -> tuple[str, float]:
    """A cell's better variant and its mean primary metric on the **validation**
    rows over the seeds (``val_rmse``, ``val_log_loss``: the leader rule of
    :mod:`bnpipe.comparison`, so the test rows that judge the registered model
    never chose it), a diverged seed counted as the cell's worst value (as in
    the judgement); NaN when every seed diverged, or the record has no
    validation metrics (a cell logged before they existed)."""
    from bnpipe.evaluation import higher_is_better, primary_metric, validation_name

    metric = validation_name(primary_metric(task))
    hib = higher_is_better(metric)
    if metric not in record.get("per_seed", {}):
        return "", math.nan
    means = {
        v: sum(vals.values()) / len(vals)
        for v, vals in worst_case_values(_per_seed(record, metric), hib).items()
        if vals and all(math.isfinite(x) for x in vals.values())
    }
    if not means:
        return "", math.nan
    top = max(means.values()) if hib else min(means.values())
    leader = "plain" if means.get("plain") == top else next(v for v in means if means[v] == top)
    return leader, top  # an exact tie goes to plain, the simpler network


def best_cell(task: str, records: Mapping[str, Mapping]) -> str | None:
    """The label of the cell whose better variant scores best on the validation
    rows (:func:`leader_score`; ``records``: label -> cell record); None when
    every seed of every cell diverged."""
    from bnpipe.evaluation import higher_is_better, primary_metric

    sign = -1.0 if higher_is_better(primary_metric(task)) else 1.0
    scored = {
        label: score
        for label, r in records.items()
        if math.isfinite(score := leader_score(task, r)[1])
    }
    return min(scored, key=lambda label: sign * scored[label]) if scored else None


def per_seed_values(results: Sequence, task: str) -> dict:
    """``metric -> variant -> {seed: value}`` of a cell's seed results, test and
    validation metrics (None for a diverged seed): what a cell run keeps as
    ``cell.json``, to be judged again later."""
    from bnpipe.evaluation import metric_names, validation_name

    out: dict = {}
    tests = metric_names(task)
    for m in (*tests, *map(validation_name, tests)):
        out[m] = {"plain": {}, "bn": {}}
        for r in results:
            value = r.score(m)
            out[m].setdefault(r.variant, {})[str(r.seed)] = value if math.isfinite(value) else None
    return out


def judge_record(cell: Cell, task: str, record: Mapping) -> CellVerdict:
    """The unadjusted verdict of a cell from its record (:func:`per_seed_values`)."""
    from bnpipe.evaluation import higher_is_better, primary_metric

    metric = primary_metric(task)
    return judge_cell(cell, _per_seed(record, metric), metric, higher_is_better(metric))


def _per_seed(record: Mapping, metric: str) -> dict[str, dict[int, float]]:
    """``variant -> seed -> value`` of ``metric`` in a cell record (NaN: diverged)."""
    return {
        v: {int(s): (math.nan if x is None else float(x)) for s, x in seeds.items()}
        for v, seeds in record["per_seed"][metric].items()
    }


def cell_description(dataset: str, v: CellVerdict) -> str:
    """A cell run's description: its verdict in one line."""
    return (
        f"**{dataset}, {v.cell.label}: winner {v.winner}** · bn − plain {v.metric} "
        f"{v.mean:+.4g} (95% CI {v.ci_low:+.4g} to {v.ci_high:+.4g}), p {v.p_value:.3g}, "
        f"adjusted {v.p_adjusted:.3g}\n"
    )


def summary_line(dataset: str, verdicts: Sequence[CellVerdict], correction: str) -> str:
    """``iris: bn wins 1 of 4 cells, plain 0, tie 3 (Holm-adjusted, alpha 0.05)``, and
    ``, diverged 1`` when a cell's every seed diverged."""
    count = {
        w: sum(1 for v in verdicts if v.winner == w) for w in ("bn", "plain", "tie", "diverged")
    }
    name = "Holm" if correction == "holm" else "BH"
    diverged = f", diverged {count['diverged']}" if count["diverged"] else ""
    return (
        f"{dataset}: bn wins {count['bn']} of {len(verdicts)} cells, plain {count['plain']}, "
        f"tie {count['tie']}{diverged} ({name}-adjusted, alpha {multiplicity.ALPHA:g})"
    )

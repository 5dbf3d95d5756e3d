"""The sweep's grid, cells and judgement (no training)."""

from __future__ import annotations

import math

import pytest

from bnpipe import sweep
from bnpipe.params import RunConfig


def test_a_grid_from_the_command_line_is_typed_and_its_cells_are_every_combination():
    grid = sweep.parse_grid(["learning_rate=0.001,0.01", "input_scaling=none,standard"])
    assert grid == {"learning_rate": [0.001, 0.01], "input_scaling": ["none", "standard"]}
    cells = sweep.cells(grid)
    assert [c.label for c in cells] == [
        "learning_rate=0.001, input_scaling=none",
        "learning_rate=0.001, input_scaling=standard",
        "learning_rate=0.01, input_scaling=none",
        "learning_rate=0.01, input_scaling=standard",
    ]
    config = cells[3].config(RunConfig(epochs=30, seeds=3))
    assert (config.learning_rate, config.input_scaling, config.epochs) == (0.01, "standard", 30)
    assert sweep.parse_grid(["batch_size=16,32.0"]) == {"batch_size": [16, 32]}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["lr=0.1,0.2"], "'lr' is not a sweep parameter"),
        (["learning_rate"], "expected NAME=V1,V2"),
        (["learning_rate=0.1", "learning_rate=0.2"], "learning_rate comes twice"),
        (["learning_rate=-1"], "learning_rate must be a positive number"),
        (["batch_size=8.5"], "batch_size: '8.5' is not a whole number"),
        (["input_scaling=log"], "input_scaling"),
        (["epochs=10,10"], "a value comes twice"),
        ([], "at least one grid axis"),
    ],
)
def test_a_bad_grid_is_refused_in_one_line(items, message):
    with pytest.raises(sweep.SweepError, match=message):
        sweep.parse_grid(items)


def test_a_diverged_seed_counts_as_the_worst_value_of_its_cell():
    per_seed = {"plain": {0: 0.9, 1: 0.8}, "bn": {0: math.nan, 1: 0.95}}
    assert sweep.worst_case_values(per_seed, higher_is_better=True)["bn"] == {0: 0.8, 1: 0.95}
    assert sweep.worst_case_values(per_seed, higher_is_better=False)["bn"] == {0: 0.95, 1: 0.95}
    verdict = sweep.judge_cell(
        sweep.Cell((("learning_rate", 1.0),)), per_seed, "test_accuracy", True
    )
    assert verdict.divergence == {"plain": 0.0, "bn": 0.5}
    assert verdict.mean == pytest.approx(((0.8 - 0.9) + (0.95 - 0.8)) / 2)


def test_a_cell_wins_only_when_its_adjusted_p_value_is_below_alpha():
    def verdict(mean, p, higher=False):
        return sweep.CellVerdict(
            sweep.Cell((("epochs", 1),)), "test_rmse", higher, mean, 0, 0, 5, p
        )

    cells = [
        verdict(-1.0, 0.001),
        verdict(2.0, 0.004),
        verdict(-1.0, 0.03),
        verdict(-1.0, 0.04),
        verdict(0.5, math.nan),
    ]
    sweep.adjust_verdicts(cells, "holm")  # m = 4: .004, .012, .06, max(.06, .04)
    assert [c.winner for c in cells] == ["bn", "plain", "tie", "tie", "tie"]
    assert cells[2].p_adjusted == pytest.approx(0.06)  # unadjusted .03 would have won
    assert math.isnan(cells[4].p_adjusted)
    assert "bn wins 1 of 5 cells, plain 1, tie 3 (Holm-adjusted" in sweep.summary_line(
        "boston", cells, "holm"
    )


def test_a_cell_where_every_seed_diverged_is_diverged_and_out_of_the_family():
    """Not a tie: nothing could be compared there. Nor a member of the correction's
    family: the other cells are adjusted as if it were not in the grid."""
    nan = math.nan
    dead = sweep.judge_cell(
        sweep.Cell((("learning_rate", 1e9),)),
        {"plain": {0: nan, 1: nan}, "bn": {0: nan, 1: nan}},
        "test_rmse",
        False,
    )
    alive = sweep.judge_cell(
        sweep.Cell((("learning_rate", 1e-3),)),
        {"plain": {0: 5.0, 1: 5.2, 2: 5.1}, "bn": {0: 4.0, 1: 4.3, 2: 4.1}},
        "test_rmse",
        False,
    )
    assert dead.all_diverged and not alive.all_diverged
    alone = sweep.judge_cell(
        alive.cell,
        {"plain": {0: 5.0, 1: 5.2, 2: 5.1}, "bn": {0: 4.0, 1: 4.3, 2: 4.1}},
        "test_rmse",
        False,
    )
    sweep.adjust_verdicts([dead, alive], "holm")
    sweep.adjust_verdicts([alone], "holm")
    assert dead.winner == "diverged" and math.isnan(dead.p_adjusted)
    assert alive.p_adjusted == pytest.approx(alone.p_adjusted)  # m = 1, not 2
    assert alive.winner == "bn"
    line = sweep.summary_line("boston", [dead, alive], "holm")
    assert "bn wins 1 of 2 cells, plain 0, tie 0, diverged 1 (Holm-adjusted" in line


def test_the_example_sweep_file_loads(tmp_path):
    from pathlib import Path

    plan = sweep.load_sweep_file(
        Path(__file__).resolve().parents[2] / "sweeps" / "when-bn-helps.yaml"
    )
    assert plan.datasets == ["boston", "iris"]
    assert len(sweep.cells(plan.grid)) == 16
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [iris]\ngrid: {momentum: [0.9]}\n")
    with pytest.raises(sweep.SweepError, match="'momentum' is not a sweep parameter"):
        sweep.load_sweep_file(bad)


def test_a_cells_record_judges_the_same_after_a_round_trip_through_json():
    import json

    import numpy as np

    from bnpipe.comparison import SeedResult

    def seed(variant, s, loss):
        metrics = {"test_accuracy": 0.9, "test_log_loss": loss, "test_macro_f1": 0.9}
        return SeedResult(variant, s, {"loss": [1.0]}, metrics, np.zeros(1), 0.1)

    results = [
        seed("plain", 0, 0.30),
        seed("plain", 1, 0.32),
        seed("bn", 0, 0.20),
        seed("bn", 1, math.nan),
    ]
    record = json.loads(json.dumps({"per_seed": sweep.per_seed_values(results, "classification")}))
    assert record["per_seed"]["test_log_loss"]["bn"] == {"0": 0.2, "1": None}  # diverged: None
    assert record["per_seed"]["val_log_loss"]["plain"] == {"0": None, "1": None}  # not measured
    cell = sweep.Cell((("epochs", 5),))
    verdict = sweep.judge_record(cell, "classification", record)
    # the diverged bn seed counts as the cell's worst log loss (0.32): d = -0.10, 0.00
    assert verdict.mean == pytest.approx(-0.05) and verdict.divergence == {"plain": 0.0, "bn": 0.5}
    assert sweep.cell_description("iris", verdict).startswith("**iris, epochs=5: winner tie**")


def _record(plain, bn, metric="val_log_loss"):
    return {"per_seed": {metric: {"plain": dict(enumerate(plain)), "bn": dict(enumerate(bn))}}}


def test_the_best_cell_is_chosen_on_the_validation_rows_not_the_test_rows():
    def both(test, val):
        return {
            "per_seed": {**_record(*test, "test_log_loss")["per_seed"], **_record(*val)["per_seed"]}
        }

    records = {
        "a": both(test=([0.10, 0.10], [0.10, 0.12]), val=([0.50, 0.50], [0.60, 0.60])),
        "b": both(test=([0.40, 0.40], [0.45, 0.45]), val=([0.20, 0.22], [0.30, 0.30])),
    }
    assert sweep.best_cell("classification", records) == "b"  # a is the best on the test rows
    assert sweep.leader_score("classification", records["b"]) == ("plain", pytest.approx(0.21))
    # a cell logged before validation metrics existed cannot be chosen
    old = _record([0.1, 0.1], [0.1, 0.1], "test_log_loss")
    assert sweep.leader_score("classification", old)[0] == ""
    assert sweep.best_cell("classification", {"old": old}) is None


def test_the_best_cell_is_the_one_whose_better_variant_scores_best():
    records = {
        "a": _record([0.30, 0.32], [0.20, 0.22]),  # bn leads with 0.21
        "b": _record([0.10, 0.14], [0.50, 0.60]),  # plain leads with 0.12: the best
        "c": _record([None, 0.01], [0.40, 0.40]),  # 0.01, but a diverged seed counts as 0.40
    }
    assert sweep.leader_score("classification", records["a"]) == ("bn", pytest.approx(0.21))
    assert sweep.leader_score("classification", records["c"]) == ("plain", pytest.approx(0.205))
    assert sweep.best_cell("classification", records) == "b"
    assert sweep.leader_score("classification", _record([0.2], [0.2]))[0] == "plain"  # a tie
    assert sweep.best_cell("classification", {"d": _record([None], [None])}) is None


def test_the_heatmap_axes_are_two_axes_of_the_grid():
    grid = {"learning_rate": [0.1, 1.0], "batch_size": [8, 16], "optimizer": ["adam"]}
    assert sweep.check_heatmap(grid, ["optimizer", " batch_size"]) == ("optimizer", "batch_size")
    assert sweep.check_heatmap(grid, None) is None
    for bad in (["learning_rate"], ["batch_size", "batch_size"], ["epochs", "batch_size"]):
        with pytest.raises(sweep.SweepError, match="heatmap"):
            sweep.check_heatmap(grid, bad)

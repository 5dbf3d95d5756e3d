"""Training defaults chosen from the data: the catalog's ``defaults:``, RunConfig.resolve,
target scaling in the Preprocessor (metrics and predictions in the target's units),
the per-dataset configs of training, and what ``bnpipe dataset init`` chooses and why.
Synthetic frames only."""

from __future__ import annotations

import json
import logging
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bnpipe.catalog import CatalogError, append_entry, entry_text, load_catalog, parse_entry
from bnpipe.features import Preprocessor, encode, prepare
from bnpipe.models import predict_frame
from bnpipe.params import ConfigError, RunConfig
from bnpipe.profiling import choose_defaults, entry_comments, profile_frame

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _entry(**over) -> dict:
    entry = {
        "url": "https://example.com/stock.csv",
        "task": "regression",
        "target": "price",
        "features": ["open", "volume"],
    }
    return entry | over


def spec_with(defaults=None, task="regression", name="stock"):
    over = {} if defaults is None else {"defaults": defaults}
    if task == "classification":
        over |= {"target": "kind"}
    return parse_entry(name, _entry(task=task, **over))


def stock(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A price ~650 ± 100, an opening price like it, a volume ~10^6 and a date."""
    r = rng(seed)
    open_ = 650 + 100 * r.standard_normal(n)
    return pd.DataFrame(
        {
            "day": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "open": open_.round(2),
            "volume": (1e6 * (1 + 0.3 * r.standard_normal(n))).round(),
            "price": (open_ + 5 * r.standard_normal(n)).round(2),
        }
    )


def small(n: int = 300, seed: int = 0) -> pd.DataFrame:
    r = rng(seed)
    return pd.DataFrame(
        {
            "a": r.normal(0, 1, n),
            "b": r.uniform(0, 3, n),
            "y": r.normal(0.5, 0.2, n),
        }
    )


# --------------------------------------------------------------------------- the catalog


def test_defaults_are_parsed_in_a_fixed_order():
    spec = spec_with({"learning_rate": 0.01, "target_scaling": "standard", "input_scaling": "none"})
    assert dict(spec.defaults) == {
        "input_scaling": "none",
        "target_scaling": "standard",
        "learning_rate": 0.01,
    }
    assert list(spec.defaults) == ["input_scaling", "target_scaling", "learning_rate"]
    assert spec_with({"learning_rate": 1}).defaults == {"learning_rate": 1.0}
    assert isinstance(spec_with({"learning_rate": 1}).defaults["learning_rate"], float)


def test_no_defaults_is_the_notebooks_setup():
    assert spec_with().defaults == {}
    assert spec_with(None).defaults == {} and spec_with({}).defaults == {}


def test_the_notebooks_datasets_keep_no_defaults():
    catalog = load_catalog(REPO / "datasets.yaml")
    assert catalog["boston"].defaults == {} and catalog["iris"].defaults == {}


@pytest.mark.parametrize(
    ("defaults", "task", "message"),
    [
        ("standard", "regression", "field 'defaults' must be a mapping of input_scaling"),
        (["input_scaling"], "regression", "field 'defaults' must be a mapping"),
        ({"epochs": 10}, "regression", "field 'defaults' must be a mapping of input_scaling"),
        ({"input_scaling": "minmax"}, "regression", "'defaults.input_scaling' must be one of"),
        ({"input_scaling": True}, "regression", "'defaults.input_scaling' must be one of"),
        ({"target_scaling": "log"}, "regression", "'defaults.target_scaling' must be one of"),
        (
            {"target_scaling": "standard"},
            "classification",
            "'defaults.target_scaling' is for a regression target",
        ),
        ({"learning_rate": 0}, "regression", "'defaults.learning_rate' must be a positive"),
        ({"learning_rate": -0.1}, "regression", "'defaults.learning_rate' must be a positive"),
        ({"learning_rate": "fast"}, "regression", "'defaults.learning_rate' must be a positive"),
        ({"learning_rate": True}, "regression", "'defaults.learning_rate' must be a positive"),
        ({"learning_rate": math.inf}, "regression", "'defaults.learning_rate' must be a positive"),
        ({"learning_rate": None}, "regression", "'defaults.learning_rate' must be a positive"),
    ],
)
def test_bad_defaults_are_catalog_errors_naming_the_field(defaults, task, message):
    with pytest.raises(CatalogError, match="dataset 'stock'") as err:
        spec_with(defaults, task=task)
    assert message in str(err.value)


def test_a_classification_entry_may_default_input_scaling_and_learning_rate():
    spec = spec_with({"input_scaling": "standard", "learning_rate": 0.02}, task="classification")
    assert spec.defaults == {"input_scaling": "standard", "learning_rate": 0.02}


def test_defaults_round_trip_in_flow_style_with_their_comments(tmp_path):
    spec = spec_with({"input_scaling": "standard", "target_scaling": "none"})
    comments = {"defaults": "chosen from the data"}
    notes = {"defaults": ["input_scaling standard: feature sizes differ by 10^3"]}
    text = entry_text(spec, comments=comments, notes=notes)
    assert (
        "    defaults: {input_scaling: standard, target_scaling: none}  # chosen from the data\n"
        "    # input_scaling standard: feature sizes differ by 10^3\n" in text
    )
    path = tmp_path / "datasets.yaml"
    path.write_text("datasets:\n", encoding="utf-8")
    append_entry(path, spec, comments=comments, notes=notes)
    assert load_catalog(path)["stock"] == spec
    lr = spec_with({"learning_rate": 0.0005})
    append_entry(path, parse_entry("other", _entry(defaults={"learning_rate": 0.0005})))
    assert load_catalog(path)["other"].defaults == lr.defaults
    assert "defaults" not in entry_text(spec_with())  # none: no field written


# --------------------------------------------------------------------------- RunConfig


def test_resolve_fills_none_from_the_dataset_then_the_notebook():
    spec = spec_with({"input_scaling": "standard", "target_scaling": "standard"})
    cfg = RunConfig(epochs=3).resolve(spec)
    assert (cfg.input_scaling, cfg.target_scaling, cfg.learning_rate) == (
        "standard",
        "standard",
        None,  # no default: the optimizer's Keras default
    )
    assert cfg.epochs == 3
    plain = RunConfig().resolve(spec_with())
    assert (plain.input_scaling, plain.target_scaling, plain.learning_rate) == (
        "none",
        "none",
        None,
    )
    assert RunConfig().resolve(spec_with({"learning_rate": 0.05})).learning_rate == 0.05


def test_a_run_value_wins_over_the_dataset_default():
    spec = spec_with(
        {"input_scaling": "standard", "target_scaling": "standard", "learning_rate": 0.1}
    )
    cfg = RunConfig(input_scaling="none", target_scaling="none", learning_rate=0.002).resolve(spec)
    assert (cfg.input_scaling, cfg.target_scaling, cfg.learning_rate) == ("none", "none", 0.002)
    half = RunConfig(input_scaling="none").resolve(spec)  # one flag given, the rest defaulted
    assert (half.input_scaling, half.target_scaling, half.learning_rate) == (
        "none",
        "standard",
        0.1,
    )


def test_resolve_is_per_dataset_and_idempotent():
    run = RunConfig(seeds=2)
    a = run.resolve(spec_with({"input_scaling": "standard"}, name="a"))
    b = run.resolve(spec_with(name="b"))
    assert (a.input_scaling, b.input_scaling) == ("standard", "none")
    assert a.resolve(spec_with(name="a")) == a and b.resolve(spec_with(name="b")) == b
    assert run.input_scaling is None  # frozen: the run's own config is unchanged


def test_a_classification_target_is_never_scaled():
    spec = spec_with({"input_scaling": "standard"}, task="classification")
    cfg = RunConfig(target_scaling="standard").resolve(spec)
    assert (cfg.input_scaling, cfg.target_scaling) == ("standard", "none")


@pytest.mark.parametrize("field", ["input_scaling", "target_scaling"])
def test_run_config_checks_scalings(field):
    with pytest.raises(ConfigError, match=rf"^{field} must be 'none' or 'standard', got 'log'"):
        RunConfig(**{field: "log"})
    assert getattr(RunConfig(**{field: "standard"}), field) == "standard"


# --------------------------------------------------------------------------- target scaling


def test_transform_then_inverse_is_the_identity_and_fitted_on_training_rows():
    spec = spec_with()
    train = prepare(stock(200), spec)
    pre = Preprocessor.fit(train, spec, scaling="standard", target_scaling="standard")
    price = train["price"].to_numpy(dtype=np.float64)
    assert pre.target_scaling == "standard"
    assert pre.target_mean == pytest.approx(price.mean())
    assert pre.target_scale == pytest.approx(price.std())
    y = pre.transform_y(train)
    assert y.shape == (200, 1) and y.dtype == np.float32
    assert abs(float(y.mean())) < 1e-4 and float(y.std()) == pytest.approx(1.0, abs=1e-4)
    back = pre.inverse_y(y)
    np.testing.assert_allclose(back[:, 0], price, rtol=1e-5)
    assert pre.target_unit == pre.target_scale  # of loss/val_loss: MSE / target_unit**2
    np.testing.assert_allclose(pre.inverse_y(y[:, 0]), price, rtol=1e-5)  # any shape


def test_without_target_scaling_nothing_changes():
    spec = spec_with()
    train = prepare(stock(50), spec)
    pre = Preprocessor.fit(train, spec)
    assert (pre.target_scaling, pre.target_mean, pre.target_scale) == ("none", 0.0, 1.0)
    y = pre.transform_y(train)
    np.testing.assert_array_equal(y[:, 0], train["price"].to_numpy(dtype=np.float32))
    out = np.ones((3, 1), dtype=np.float32)
    assert pre.inverse_y(out) is out and pre.target_unit == 1.0


def test_a_constant_target_scales_by_one():
    spec = spec_with()
    train = prepare(stock(20), spec).assign(price=7.0)
    pre = Preprocessor.fit(train, spec, target_scaling="standard")
    assert (pre.target_mean, pre.target_scale) == (7.0, 1.0)


def test_classification_ignores_target_scaling():
    spec = spec_with(task="classification")
    train = stock(60).assign(kind=lambda d: np.where(d["open"] > 650, "up", "down"))
    pre = Preprocessor.fit(prepare(train, spec), spec, target_scaling="standard")
    assert pre.target_scaling == "none"
    y = pre.transform_y(train)
    assert y.shape == (60, 2) and set(np.unique(y)) == {0.0, 1.0}
    proba = np.full((2, 2), 0.5)
    assert pre.inverse_y(proba) is proba


def test_an_unknown_target_scaling_is_refused():
    with pytest.raises(ValueError, match="target_scaling must be one of"):
        Preprocessor.fit(prepare(stock(10), spec_with()), spec_with(), target_scaling="log")


def test_encode_trains_on_the_scaled_target_and_evaluates_in_its_units():
    spec = spec_with()
    df = stock(300)
    enc = encode(df, spec, split_seed=3, scaling="standard", target_scaling="standard")
    train_price = enc.split.train["price"].to_numpy(dtype=np.float64)
    assert enc.pre.target_mean == pytest.approx(train_price.mean())  # training rows only
    assert enc.pre.target_mean != pytest.approx(df["price"].mean(), abs=1e-9)
    for y in (enc.y_train, enc.y_val, enc.y_test):
        assert abs(float(y.mean())) < 0.5 and 0.5 < float(y.std()) < 2.0
    np.testing.assert_allclose(enc.y_test_true, enc.split.test["price"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(enc.y_train_true, train_price, rtol=1e-6)
    np.testing.assert_allclose(enc.pre.inverse_y(enc.y_test)[:, 0], enc.y_test_true, rtol=1e-5)
    plain = encode(df, spec, split_seed=3, scaling="standard")
    np.testing.assert_array_equal(plain.y_test_true, enc.y_test_true)
    np.testing.assert_array_equal(plain.y_test[:, 0], plain.y_test_true)


def test_the_saved_form_keeps_target_scaling():
    spec = spec_with()
    pre = Preprocessor.fit(prepare(stock(80), spec), spec, target_scaling="standard")
    d = json.loads(json.dumps(pre.to_dict()))
    assert d["format"] == 2 and d["target_scaling"] == "standard"
    again = Preprocessor.from_dict(d)
    assert again == pre and again.target_mean == pre.target_mean


def test_saved_forms_without_target_keys_still_load_unscaled():
    spec = spec_with()
    d = Preprocessor.fit(prepare(stock(20), spec), spec).to_dict()
    old = {k: v for k, v in d.items() if not k.startswith("target_")}
    assert Preprocessor.from_dict(old).target_scaling == "none"
    fixture = FIXTURES / "models" / "petals-impute" / "artifacts" / "preprocessor.json"
    saved = json.loads(fixture.read_text(encoding="utf-8"))
    assert saved["format"] == 2 and "target_scaling" not in saved
    assert Preprocessor.from_dict(saved).target_scaling == "none"
    format1 = json.loads((FIXTURES / "format1" / "preprocessor.json").read_text("utf-8"))
    assert Preprocessor.from_dict(format1).target_scaling == "none"
    with pytest.raises(ValueError, match=r"format 1: unknown keys \['target_scaling'\]"):
        Preprocessor.from_dict(format1 | {"target_scaling": "standard"})


def test_a_saved_form_with_a_broken_target_scaling_is_refused():
    spec = spec_with()
    d = Preprocessor.fit(prepare(stock(20), spec), spec, target_scaling="standard").to_dict()
    with pytest.raises(ValueError, match="target_scaling must be one of"):
        Preprocessor.from_dict(d | {"target_scaling": "log"})
    with pytest.raises(ValueError, match="needs target_mean and target_scale"):
        Preprocessor.from_dict({k: v for k, v in d.items() if k != "target_mean"})


class Stub:
    """A Keras-like model: a fixed output per row, whatever the inputs."""

    def __init__(self, value: float, outputs: int = 1):
        self.value, self.outputs = value, outputs

    def __call__(self, x, training=False):
        assert training is False
        return np.full((len(x), self.outputs), self.value, dtype=np.float32)


def test_predict_frame_answers_in_the_targets_units():
    spec = spec_with()
    train = prepare(stock(100), spec)
    pre = Preprocessor.fit(train, spec, scaling="standard", target_scaling="standard")
    rows = train.drop(columns="price").iloc[:3].set_index(pd.Index([7, 8, 9]))
    out = predict_frame(Stub(1.0), pre, rows)  # one std above the training mean
    assert list(out.columns) == ["prediction"] and list(out.index) == [7, 8, 9]
    expected = pre.target_mean + pre.target_scale
    np.testing.assert_allclose(out["prediction"], expected, rtol=1e-6)
    unscaled = Preprocessor.fit(train, spec, scaling="standard")
    np.testing.assert_allclose(predict_frame(Stub(1.0), unscaled, rows)["prediction"], 1.0)


# --------------------------------------------------------------------------- training


@pytest.fixture
def quiet_tasks(monkeypatch):
    """bnpipe.tasks.training's functions outside a Prefect run (a plain logger)."""
    import bnpipe.tasks.training

    monkeypatch.setattr(bnpipe.tasks.training, "get_run_logger", lambda: logging.getLogger("test"))
    return bnpipe.tasks.training


def test_encode_dataset_resolves_the_datasets_defaults(quiet_tasks):
    spec = spec_with({"input_scaling": "standard", "target_scaling": "standard"})
    data = quiet_tasks.encode_dataset.fn(stock(100), spec, RunConfig(seeds=1))
    assert (data.pre.scaling, data.pre.target_scaling) == ("standard", "standard")
    flag = quiet_tasks.encode_dataset.fn(stock(100), spec, RunConfig(target_scaling="none"))
    assert (flag.pre.scaling, flag.pre.target_scaling) == ("standard", "none")


def test_jobs_carry_each_datasets_config_and_results_score_in_its_units(quiet_tasks, tmp_path):
    from bnpipe import jobs
    from bnpipe.jobs import make_job
    from bnpipe.models import VARIANTS

    scaled = spec_with({"target_scaling": "standard", "learning_rate": 0.01}, name="scaled")
    raw = spec_with(name="raw")
    run = RunConfig(epochs=2, seeds=2)
    data = {
        s.name: quiet_tasks.encode_dataset.fn(stock(120), s, run.resolve(s)) for s in (scaled, raw)
    }
    made = {(s.name, v): make_job(s, data[s.name], run, v) for s in (scaled, raw) for v in VARIANTS}
    lrs = {job.name: job.config.learning_rate for job in made.values()}
    assert lrs == {"scaled/plain": 0.01, "scaled/bn": 0.01, "raw/plain": None, "raw/bn": None}
    assert all(job.seeds == (0, 1) and job.config.epochs == 2 for job in made.values())
    assert made["scaled", "bn"].key_prefix == "train-scaled-bn"

    def results_of(name: str, variant: str):
        job = made[name, variant]
        seeds = [
            jobs.SeedOutput(
                seed,
                {"loss": [1.0, 0.5], "val_loss": [1.0, 0.6]},
                np.zeros((len(job.x_val), 1), dtype=np.float32),
                np.zeros((len(job.x_test), 1), dtype=np.float32),  # the training mean
                0.1,
                b"model bytes",
            )
            for seed in job.seeds
        ]
        out = jobs.JobResult(job.name, seeds, 0.001, "tcp://127.0.0.1:1", 0.2)
        return jobs.seed_results(out, "regression", variant, data[name], tmp_path)

    mean = data["scaled"].pre.target_mean
    for r in results_of("scaled", "bn"):  # an output of 0 is the training mean, in its units
        np.testing.assert_allclose(r.predictions, mean, rtol=1e-6)
        rmse = np.sqrt(np.mean((data["scaled"].y_test_true - mean) ** 2))
        assert r.metrics["test_rmse"] == pytest.approx(rmse, rel=1e-5)
        assert r.worker == "tcp://127.0.0.1:1"
        assert Path(r.model_path).read_bytes() == b"model bytes"
    for r in results_of("raw", "plain"):
        np.testing.assert_array_equal(r.predictions, 0.0)
        assert r.metrics["test_rmse"] > 500  # price ~650, predicted 0


# --------------------------------------------------------------------------- flow and CLI


def test_the_run_parameters_leave_the_defaultable_ones_to_the_dataset():
    fields = RunConfig.model_fields
    for name in ("input_scaling", "target_scaling", "learning_rate"):
        assert fields[name].default is None, name
        assert "the dataset's default" in fields[name].description, name
    assert (
        str(fields["target_scaling"].annotation)
        == "typing.Optional[typing.Literal['none', 'standard']]"
    )


def test_run_flags_default_to_the_datasets_defaults():
    from bnpipe.ops.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "boston"])
    assert (args.input_scaling, args.target_scaling, args.learning_rate) == (None, None, None)
    args = parser.parse_args(["run", "boston", "--target-scaling", "standard"])
    assert args.target_scaling == "standard"
    run = next(a for a in parser._subparsers._group_actions[0].choices["run"]._actions
               if a.dest == "target_scaling")  # fmt: skip
    assert "datasets.yaml defaults:" in run.help and "else none" in run.help
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "boston", "--target-scaling", "log"])


# --------------------------------------------------------------------------- dataset init


def test_init_standardizes_a_stock_like_frame_and_says_why():
    df = stock()
    chosen = choose_defaults(df, profile_frame(df, target="price"))
    assert chosen.values == {"input_scaling": "standard", "target_scaling": "standard"}
    assert chosen.reasons["input_scaling"].startswith("feature sizes differ by 10^3: volume ~1e6")
    assert chosen.reasons["target_scaling"] == "price ~650 ± 100"
    assert chosen.summary() == (
        "input_scaling standard (feature sizes differ by 10^3: volume ~1e6, open ~650); "
        "target_scaling standard (price ~650 ± 100)"
    )


def test_init_keeps_a_small_scale_frame_as_it_is():
    df = small()
    chosen = choose_defaults(df, profile_frame(df, target="y"))
    assert chosen.values == {"input_scaling": "none", "target_scaling": "none"}
    assert chosen.reasons["input_scaling"].startswith("feature sizes within 1.")
    assert chosen.reasons["target_scaling"].endswith(": near unit scale")
    assert chosen.reasons["target_scaling"].startswith("y ~0.")


def test_init_rules_at_their_edges():
    r = rng(1)
    # one large input (a year) is enough; a tiny target is scaled too
    df = pd.DataFrame(
        {
            "built": pd.date_range("2001-01-01", periods=100, freq="30D").strftime("%Y-%m-%d"),
            "y": r.normal(0.002, 0.001, 100),
        }
    )
    chosen = choose_defaults(df, profile_frame(df, target="y"))
    assert chosen.values == {"input_scaling": "standard", "target_scaling": "standard"}
    assert chosen.reasons["input_scaling"] == "features as large as ~2000: built (year)"
    # classification: no target_scaling; one-hot inputs only: nothing to scale
    df = pd.DataFrame({"c": r.choice(["a", "b"], 100), "k": r.choice(["u", "v"], 100)})
    chosen = choose_defaults(df, profile_frame(df, target="k"))
    assert chosen.values == {"input_scaling": "none"}
    assert "one-hot" in chosen.reasons["input_scaling"]
    # sizes ~75x apart are within the rule; ~150x are not
    df = pd.DataFrame({"a": [2.0, 2.5] * 25, "b": [150.0, 180.0] * 25, "y": r.normal(size=50)})
    assert choose_defaults(df, profile_frame(df, target="y")).values["input_scaling"] == "none"
    df["b"] *= 2
    assert choose_defaults(df, profile_frame(df, target="y")).values["input_scaling"] == "standard"


def test_init_comments_say_why(tmp_path):
    df = stock()
    profile = profile_frame(df, target="price")
    chosen = choose_defaults(df, profile)
    comments, notes = entry_comments(profile, defaults=chosen)
    assert "override" in comments["defaults"]
    assert notes["defaults"] == [
        "input_scaling standard: feature sizes differ by 10^3: volume ~1e6, open ~650",
        "target_scaling standard: price ~650 ± 100",
    ]
    spec = parse_entry(
        "stock",
        {
            "url": "https://example.com/stock.csv",
            "task": profile.task,
            "target": "price",
            "features": profile.features,
            "dates": profile.dates,
            "defaults": chosen.values,
        },
    )
    path = tmp_path / "datasets.yaml"
    append_entry(path, spec, comments=comments, notes=notes)
    text = path.read_text(encoding="utf-8")
    assert "    defaults: {input_scaling: standard, target_scaling: standard}  # chosen" in text
    assert "    # target_scaling standard: price ~650 ± 100\n" in text
    assert load_catalog(path)["stock"] == spec


@pytest.mark.slow  # Great Expectations
def test_dataset_init_writes_and_prints_the_defaults(env, tmp_path, capsys):
    catalog = tmp_path / "datasets.yaml"  # written by init
    env["BNPIPE_CATALOG"] = str(catalog)
    env["BNPIPE_EXPECTATIONS_DIR"] = str(tmp_path / "expectations")
    csv = tmp_path / "stock.csv"
    stock().to_csv(csv, index=False)
    from bnpipe.ops.cli import main

    assert main(["dataset", "init", "stock", "--url", str(csv), "--target", "price"]) == 0
    out = capsys.readouterr().out.splitlines()
    line = next(x for x in out if x.startswith("defaults: "))
    assert line == (
        "defaults: input_scaling standard (feature sizes differ by 10^3: volume ~1e6, "
        "open ~650); target_scaling standard (price ~650 ± 100) "
        "(bnpipe run's flags override them)"
    )
    spec = load_catalog(catalog)["stock"]
    assert spec.defaults == {"input_scaling": "standard", "target_scaling": "standard"}
    entry = yaml.safe_load(catalog.read_text("utf-8"))["datasets"]["stock"]
    assert entry["defaults"] == {"input_scaling": "standard", "target_scaling": "standard"}
    assert textwrap.dedent("""\
        # input_scaling standard: feature sizes differ by 10^3: volume ~1e6, open ~650
    """).strip() in catalog.read_text("utf-8")

"""The committed model fixture (tests/fixtures/models/petals-impute, written by
tests/fixtures/make_model_fixture.py) loads with MLflow and scores raw rows, and
``bnpipe predict`` handles its rows: blanks imputed, text and empty files refused."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # loads TensorFlow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "petals-impute"
CLASSES = ["setosa", "versicolor", "virginica"]
COLUMNS = ["label", *(f"proba_{c}" for c in CLASSES)]


@pytest.fixture(scope="module")
def model():
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(FIXTURE))


def raw_rows() -> pd.DataFrame:
    """Rows as a CSV reader gives them: blanks, a rare and an unseen colour, a bad date."""
    return pd.DataFrame(
        {
            "sepal length": [5.0, 6.6, 5.9, 6.1],
            "sepal_width": [3.4, np.nan, 2.8, np.nan],
            "petal_length": [1.4, 5.5, 4.2, 4.8],
            "colour": ["white", None, "pink", "green"],
            "picked": ["2024-05-02 10:00", None, "2024-06-30", "not a date"],
        }
    )


def test_the_fixture_is_small_and_format_2():
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 200_000
    saved = json.loads((FIXTURE / "artifacts" / "preprocessor.json").read_text("utf-8"))
    assert saved["format"] == 2 and "sepal_width" in saved["indicators"]


def test_the_fixture_loads_and_scores_raw_rows(model):
    from bnpipe.serving import BnpipeModel

    assert isinstance(model.unwrap_python_model(), BnpipeModel)
    out = model.predict(raw_rows())
    assert list(out.columns) == COLUMNS and len(out) == 4
    proba = out[COLUMNS[1:]].to_numpy(dtype=np.float64)
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(out["label"]) <= set(CLASSES)
    assert list(out["label"]) == [CLASSES[i] for i in proba.argmax(axis=1)]


def test_the_signature_takes_any_number_and_text_as_string(model):
    """Under impute a numeric input is "any": rows with blanks (float NaN) and rows
    without (int64) both pass MLflow's schema check."""
    types = {
        c.name: getattr(c.type, "name", None) or c.type.to_dict()["type"]
        for c in model.metadata.get_input_schema().inputs
    }
    assert types == {
        "sepal length": "any",
        "sepal_width": "any",
        "petal_length": "any",
        "colour": "string",
        "picked": "string",
    }


def test_prepare_rows_casts_whole_numbers_and_checks_text(model):
    from bnpipe.serving import prepare_rows

    rows = raw_rows().assign(petal_length=[1, 5, 4, 5])  # int64: MLflow refuses it as double
    out = model.predict(prepare_rows(model, rows))
    assert np.isfinite(out[COLUMNS[1:]].to_numpy(dtype=np.float64)).all()
    bad = raw_rows().astype({"petal_length": object})
    bad.loc[2, "petal_length"] = "long"
    with pytest.raises(
        ValueError, match="column 'petal_length': text in a numeric column, e.g. row 2"
    ):
        prepare_rows(model, bad)


def _invoke(model, body: dict) -> tuple[int, dict]:
    """``body`` through MLflow's scoring server code (what ``mlflow models serve``
    runs per request): the HTTP status and the JSON body it answers."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    try:
        answer = scoring_server.invocations(
            json.dumps(body), "application/json", model, model.metadata.get_input_schema()
        )
    except MlflowException as exc:
        return exc.get_http_status_code(), json.loads(exc.serialize_as_json())
    return answer.status, json.loads(answer.response)


@pytest.mark.parametrize(
    ("value", "shown"), [(1e39, "'1e+39'"), ("Infinity", "'Infinity'"), (float("inf"), "'inf'")]
)
def test_the_served_fixture_refuses_a_value_no_float32_holds(model, value, shown):
    """1e39 is finite in float64, but not as the network's float32 input: a 400 naming
    the column and the request's row (from 1), not 200 with NaN probabilities (and
    no stack trace). The fixture was logged before this rule: it lives in the code."""
    rows = raw_rows().astype({"sepal_width": object})
    rows.loc[2, "sepal_width"] = value
    split = rows.to_dict(orient="split", index=False)  # json.dumps: inf as bare Infinity
    status, answer = _invoke(model, {"dataframe_split": split})
    assert status == 400, answer
    assert answer["message"] == (
        f"column 'sepal_width': not a finite float32 number, e.g. row 3: {shown} "
        "(every value must be finite as the model's float32 input, after its scaling: "
        "no ±inf, nothing beyond ±3.4e+38) (rows of the request, counted from 1)"
    )
    assert "stack_trace" not in answer and "Traceback" not in json.dumps(answer)
    status, answer = _invoke(model, {"dataframe_split": json.loads(
        raw_rows().to_json(orient="split", index=False))})  # fmt: skip
    assert status == 200 and len(answer["predictions"]) == 4


def test_the_served_fixture_names_text_by_row_without_a_stack_trace(model):
    rows = raw_rows().astype({"petal_length": object})
    rows.loc[0, "petal_length"] = "long"
    status, answer = _invoke(
        model, {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    )
    assert status == 400 and "stack_trace" not in answer
    assert answer["message"].startswith(
        "column 'petal_length': text in a numeric column, e.g. row 1: 'long'"
    )


# --------------------------------------------------------------------------- bnpipe predict


@pytest.fixture
def petals(env, tmp_path, model, monkeypatch):
    """``bnpipe predict petals`` with the fixture as the champion (no tracking store)."""
    import mlflow.pyfunc

    from bnpipe import tracking

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        textwrap.dedent(
            """\
            datasets:
              petals:
                url: https://example.com/petals.csv
                task: classification
                target: species
                features: [sepal length, sepal_width, petal_length, colour, picked]
                categorical: [colour]
                dates: [picked]
                rename: {sepal length: sepal_length}
                missing: impute
                min_frequency: 3
                sep: ";"
            """
        ),
        encoding="utf-8",
    )
    env["BNPIPE_CATALOG"] = str(catalog)
    monkeypatch.setattr(tracking, "connect", lambda uri: None)
    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda uri: model)
    return tmp_path


def _predict(path: Path, capsys) -> tuple[int, str, str]:
    from bnpipe.ops.cli import main

    code = main(["predict", "petals", "--input", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_imputes_blanks_reading_the_dataset_separator(petals, capsys):
    path = petals / "rows.csv"
    raw_rows().assign(petal_length=[1, 5, 4, 5]).to_csv(path, sep=";", index=False)
    code, out, err = _predict(path, capsys)
    assert code == 0, err
    scored = pd.read_csv(pd.io.common.StringIO(out))
    assert list(scored.columns[-4:]) == COLUMNS and len(scored) == 4
    assert np.isfinite(scored[COLUMNS[1:]].to_numpy()).all()


def test_predict_names_text_in_a_numeric_column_by_line(petals, capsys):
    path = petals / "rows.csv"
    rows = raw_rows().astype({"petal_length": object})
    rows.loc[[1, 3], "petal_length"] = ["abc", "?"]
    rows.to_csv(path, sep=";", index=False)
    code, _, err = _predict(path, capsys)
    assert code == 1
    assert err.splitlines()[0] == (
        f"bnpipe: error: {path}: column 'petal_length': text in a numeric column, e.g. "
        "rows 3, 5: 'abc', '?' (rows are line numbers of the file; the header is line 1)"
    )


def test_predict_refuses_a_header_without_rows(petals, capsys):
    path = petals / "rows.csv"
    path.write_text("sepal length;sepal_width;petal_length;colour;picked\n", encoding="utf-8")
    code, _, err = _predict(path, capsys)
    assert code == 1 and err.splitlines()[0] == f"bnpipe: error: {path}: a header and no rows"


def test_predict_hints_at_the_separator(petals, capsys):
    path = petals / "rows.csv"
    raw_rows().to_csv(path, index=False)  # commas, the catalog says ";"
    code, _, err = _predict(path, capsys)
    assert code == 1 and "is the file separated by ';'?" in err


def test_predict_refuses_values_no_float32_holds_by_line(petals, capsys):
    path = petals / "rows.csv"
    rows = raw_rows()
    rows.loc[[1, 3], "petal_length"] = [1e300, np.inf]
    rows.to_csv(path, sep=";", index=False)
    assert "inf" in path.read_text("utf-8")
    code, out, err = _predict(path, capsys)
    assert code == 1 and out == ""
    assert err.splitlines()[0] == (
        f"bnpipe: error: {path}: column 'petal_length': not a finite float32 number, e.g. "
        "rows 3, 5: '1e+300', 'inf' (every value must be finite as the model's float32 input, "
        "after its scaling: no ±inf, nothing beyond ±3.4e+38) "
        "(rows are line numbers of the file; the header is line 1)"
    )

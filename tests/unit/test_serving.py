"""bnpipe.serving: the pip requirements a logged model carries, and a model with
Hangul headers served to a client that spells them in NFD."""

from __future__ import annotations

import json
import unicodedata
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest

from bnpipe import serving
from bnpipe.catalog import parse_entry


def test_each_requirement_is_the_installed_version():
    reqs = serving.pip_requirements()
    assert [r.split("==")[0] for r in reqs] == list(serving.PIP_PACKAGES)
    for req in reqs:
        name, pinned = req.split("==")
        assert pinned == version(name), req


def test_the_model_class_keeps_its_import_path():
    # Logged models name their python_model class by this path; moving it breaks them.
    assert f"{serving.BnpipeModel.__module__}.{serving.BnpipeModel.__qualname__}" == (
        "bnpipe.serving.BnpipeModel"
    )


def test_a_package_under_another_name_or_none_does_not_fail_the_logging(monkeypatch):
    """TensorFlow installed as ``tensorflow`` is pinned as that; a package no
    distribution provides is required without a version."""
    from importlib import metadata

    installed = {"tensorflow": "2.21.0", "keras": "3.15.1"}

    def fake_version(name: str) -> str:
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(metadata, "version", fake_version)
    reqs = serving.pip_requirements()
    assert reqs[:2] == ["tensorflow==2.21.0", "keras==3.15.1"]
    assert reqs[2:] == list(serving.PIP_PACKAGES[2:])


# --------------------------------------------------------------------------- headers in NFD

FLOWERS = parse_entry(
    "flowers",
    {
        "url": "https://example.com/flowers.csv",
        "task": "classification",
        "target": "종류",
        "features": ["길이", "폭"],
        "rename": {"길이": "length", "종류": "kind"},
    },
)


def _flowers(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    kinds = np.repeat(["a", "b", "c"], n // 3)
    return pd.DataFrame({"길이": rng.normal(5, 1, n), "폭": rng.normal(3, 0.5, n), "종류": kinds})


def nfd(name: str) -> str:
    return unicodedata.normalize("NFD", name)


def test_a_name_with_two_unicode_spellings_is_in_the_signature_under_both():
    from bnpipe.features import Preprocessor

    pre = Preprocessor.fit(_flowers(), FLOWERS)
    inputs = serving.signature(pre).inputs.inputs
    assert [(c.name, c.required) for c in inputs] == [
        ("길이", False), (nfd("길이"), False), ("폭", False), (nfd("폭"), False),
    ]  # fmt: skip
    ascii_pre = Preprocessor.fit(_flowers().rename(columns={"길이": "x"}), _ascii_spec())
    assert [(c.name, c.required) for c in serving.signature(ascii_pre).inputs.inputs] == [
        ("x", True), ("폭", False), (nfd("폭"), False),
    ]  # fmt: skip


def _ascii_spec():
    return parse_entry(
        "flowers",
        {"url": "https://example.com/f.csv", "task": "classification", "target": "종류",
         "features": ["x", "폭"]},
    )  # fmt: skip


@pytest.fixture(scope="module")
def flowers_model(tmp_path_factory):
    """An (untrained) network with the flowers' preprocessor, saved as a bnpipe model."""
    import mlflow.pyfunc

    from bnpipe.features import Preprocessor
    from bnpipe.models import build_model

    pre = Preprocessor.fit(_flowers(), FLOWERS)
    folder = tmp_path_factory.mktemp("flowers")
    net = build_model("plain", len(pre.input_names), pre.n_outputs, pre.task)
    net.save(folder / "net.keras")
    serving.save_model(folder / "model", folder / "net.keras", pre)
    return mlflow.pyfunc.load_model(str(folder / "model"))


def _invoke(model, columns, data):
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    body = json.dumps({"dataframe_split": {"columns": columns, "data": data}})
    try:
        answer = scoring_server.invocations(
            body, "application/json", model, model.metadata.get_input_schema()
        )
    except MlflowException as exc:
        return exc.get_http_status_code(), json.loads(exc.serialize_as_json())
    return answer.status, json.loads(answer.response)


@pytest.mark.slow  # loads TensorFlow
def test_headers_in_nfd_are_served_like_the_signatures_nfc(flowers_model):
    data = [[5.1, 3.5], [6.7, 3.0]]
    status, nfc_answer = _invoke(flowers_model, ["길이", "폭"], data)
    assert status == 200, nfc_answer
    status, nfd_answer = _invoke(flowers_model, [nfd("길이"), nfd("폭")], data)
    assert status == 200, nfd_answer
    assert nfd_answer == nfc_answer
    status, mixed = _invoke(flowers_model, [nfd("길이"), "폭"], data)
    assert status == 200 and mixed == nfc_answer
    status, answer = _invoke(flowers_model, [nfd("길이")], [[5.1]])
    assert status == 400 and "stack_trace" not in answer
    assert answer["message"] == (
        "input is missing required columns: 폭 (rows of the request, counted from 1)"
    )


@pytest.fixture(scope="module")
def nfc_only_model(tmp_path_factory):
    """The same model with the signature bnpipe logged before: NFC names, required
    (MLflow alone refuses NFD headers for it)."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from bnpipe.features import Preprocessor
    from bnpipe.models import build_model

    pre = Preprocessor.fit(_flowers(), FLOWERS)
    folder = tmp_path_factory.mktemp("flowers-nfc")
    build_model("plain", len(pre.input_names), pre.n_outputs, pre.task).save(folder / "net.keras")
    with serving._model_args(folder / "net.keras", pre) as args:
        outputs = args["signature"].outputs
        args["signature"] = ModelSignature(
            Schema([ColSpec("double", "길이"), ColSpec("double", "폭")]), outputs
        )
        mlflow.pyfunc.save_model(path=str(folder / "model"), **args)
    return mlflow.pyfunc.load_model(str(folder / "model"))


@pytest.mark.slow
def test_prepare_rows_gives_nfd_headers_an_older_signatures_spelling(nfc_only_model):
    """`bnpipe predict` on a CSV with NFD headers, with a champion logged before
    both spellings were in the signature."""
    from mlflow.exceptions import MlflowException

    rows = pd.DataFrame({nfd("길이"): [5.1, 6.7], nfd("폭"): [3.5, 3.0]})
    with pytest.raises(MlflowException, match="Model is missing inputs"):
        nfc_only_model.predict(rows)  # what MLflow alone does
    prepared = serving.prepare_rows(nfc_only_model, rows)
    assert list(prepared.columns) == ["길이", "폭"]
    out = nfc_only_model.predict(prepared)
    expected = nfc_only_model.predict(pd.DataFrame({"길이": [5.1, 6.7], "폭": [3.5, 3.0]}))
    pd.testing.assert_frame_equal(out, expected)


@pytest.mark.slow
def test_bnpipe_predict_reads_a_csv_whose_headers_are_nfd(
    env, tmp_path, nfc_only_model, monkeypatch, capsys
):
    import mlflow.pyfunc

    from bnpipe import tracking
    from bnpipe.ops.cli import main

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "datasets:\n  flowers:\n    url: https://example.com/flowers.csv\n"
        "    task: classification\n    target: 종류\n    features: [길이, 폭]\n",
        encoding="utf-8",
    )
    env["BNPIPE_CATALOG"] = str(catalog)
    monkeypatch.setattr(tracking, "connect", lambda uri: None)
    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda uri: nfc_only_model)
    path = tmp_path / "rows.csv"
    path.write_text(f"{nfd('길이')},{nfd('폭')}\n5.1,3.5\n6.7,3.0\n", encoding="utf-8")
    code = main(["predict", "flowers", "--input", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    scored = pd.read_csv(pd.io.common.StringIO(out))
    assert len(scored) == 2 and list(scored.columns[:2]) == [nfd("길이"), nfd("폭")]
    assert np.isfinite(scored[["proba_a", "proba_b", "proba_c"]].to_numpy()).all()

"""The logged model: raw CSV rows in, predictions out, preprocessing inside.

Imported only where a model is logged or loaded (it imports MLflow).

The model needs ``bnpipe`` importable where it is loaded (this project's
environment; ``mlflow models serve --env-manager local``). It does not ship a
copy of the package with ``code_paths``: loading such a model puts that copy
first on ``sys.path`` and evicts the running ``bnpipe`` modules, so a flow
that scores the old champion would continue on the champion's old code.
Serving cannot skew from training: the fitted :class:`Preprocessor` travels
with the Keras weights as an artifact of the same MLflow model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import warnings
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException

from bnpipe.features import Preprocessor
from bnpipe.features.cells import same_names, spellings
from bnpipe.models import predictions

PIP_PACKAGES: tuple[str, ...] = ("tensorflow-cpu", "keras", "pandas", "numpy", "pyyaml", "mlflow")
"""The distributions a logged model needs where it is loaded (with ``bnpipe`` itself)."""


_ALSO_SHIPPED_AS = {"tensorflow-cpu": ("tensorflow",)}
"""Other distributions of the same modules: TensorFlow installed as ``tensorflow``
(a GPU machine) rather than the lock's ``tensorflow-cpu``."""


def pip_requirements() -> list[str]:
    """``name==version`` of each of :data:`PIP_PACKAGES` as installed here, where
    the model is logged: the model is pinned to what trained it. A package under
    another distribution name is pinned as that one; one that no distribution
    provides (a source checkout) is required without a version rather than
    failing the run after training."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in PIP_PACKAGES:
        for candidate in (name, *_ALSO_SHIPPED_AS.get(name, ())):
            try:
                out.append(f"{candidate}=={version(candidate)}")
                break
            except PackageNotFoundError:
                continue
        else:
            out.append(name)
    return out


class RowsRefused(MlflowException):
    """Rows the model does not score: HTTP 400 from ``mlflow models serve``, whose
    body's message is the reason alone (it names the column and the rows). The
    scoring server puts a dump of the request before an ``MlflowException``'s
    message; that, and a stack trace, stay out of the body."""

    def __init__(self, reason: str):
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        super().__init__(reason, error_code=INVALID_PARAMETER_VALUE)
        self.reason = reason

    def serialize_as_json(self) -> str:
        return json.dumps({**json.loads(super().serialize_as_json()), "message": self.reason})


class BnpipeModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: ``predict(raw_rows) -> DataFrame``.

    Rows its :class:`Preprocessor` refuses (text in a numeric column, a blank its
    policy refuses, a value that is no finite float32 input, a missing column)
    raise :class:`RowsRefused`, rows counted from 1 as a request's rows are."""

    def load_context(self, context):
        from bnpipe.engine.tf_setup import preload

        preload()  # TensorFlow without its C++ start-up notices on the terminal
        import keras

        self.model = keras.models.load_model(context.artifacts["keras_model"], compile=False)
        with open(context.artifacts["preprocessor"], encoding="utf-8") as fh:
            self.pre = Preprocessor.from_dict(json.load(fh))

    # The DataFrame hint is one MLflow infers no schema from: no "Add type hints"
    # warning at every import, and no type-hint validation on top of the signature's
    # (which models logged before it never had; they load this same class).
    def predict(self, context, model_input: pd.DataFrame, params=None):
        rows = model_input.set_axis(pd.RangeIndex(1, len(model_input) + 1))
        try:
            x = self.pre.transform_x(rows)
        except (KeyError, ValueError) as exc:
            reason = exc.args[0] if exc.args else str(exc)
            raise RowsRefused(f"{reason} (rows of the request, counted from 1)") from None
        return predictions(self.model, self.pre, x, model_input.index)


@contextlib.contextmanager
def _quiet():
    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input example.*", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)


def input_type(pre: Preprocessor, column: str) -> str:
    """A feature's (clean name) type in the signature. Categorical and date features
    are text. Under impute (any feature) a numeric feature is "any": served rows with
    blanks read as float NaN, rows without as int64, and MLflow refuses either the one
    ("long") or the other ("double": int64 -> float64 is not a safe cast to it); the
    preprocessor's own check names text in a numeric column."""
    if column in pre.categories or column in pre.dates:
        return "string"
    if "impute" in pre.missing.values():
        return "any"
    return pre.column_types.get(column, "double")


def signature(pre: Preprocessor):
    """Raw feature columns in, typed as training saw them; predictions out.

    A name with two Unicode spellings (Hangul, accents: NFC and NFD) is in the
    signature under both, each optional, since MLflow matches names exactly and
    would refuse the other spelling as a missing column; the model's
    :class:`Preprocessor` matches either and names a column missing in both."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    def specs(raw: str, clean: str) -> list[ColSpec]:
        kind = input_type(pre, clean)
        names = spellings(raw)
        return [
            ColSpec(AnyType() if kind == "any" else kind, name, required=len(names) == 1)
            for name in names
        ]

    inputs = Schema(
        [
            spec
            for raw, clean in zip(pre.raw_features, pre.features, strict=True)
            for spec in specs(raw, clean)
        ]
    )
    if pre.task == "classification":
        outputs = Schema(
            [ColSpec("string", "label")] + [ColSpec("double", f"proba_{c}") for c in pre.classes]
        )
    else:
        outputs = Schema([ColSpec("double", "prediction")])
    return ModelSignature(inputs=inputs, outputs=outputs)


@contextlib.contextmanager
def _model_args(model_path, pre: Preprocessor):
    """The pyfunc arguments log_model and save_model share (preprocessor.json in a temp dir)."""
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        pre_path = Path(tmp, "preprocessor.json")
        pre_path.write_text(json.dumps(pre.to_dict(), ensure_ascii=False, indent=2), "utf-8")
        yield {
            "python_model": BnpipeModel(),
            "artifacts": {"keras_model": str(model_path), "preprocessor": str(pre_path)},
            "signature": signature(pre),
            "pip_requirements": pip_requirements(),
        }


def log_model(model_path, pre: Preprocessor, *, name: str = "model", step: int = 0):
    """Log the Keras model saved at ``model_path`` (.keras) + ``pre`` as a pyfunc
    model named ``name`` to the active run, at ``step``. Loads neither TensorFlow
    nor the model. MLflow links the run's metrics logged at ``step`` to it.

    No ``input_example``: MLflow 3.17 crashes writing it (the folder does not exist yet);
    the explicit signature documents the input instead. Its advice to pass one,
    and to prefer models-from-code over a pickled PythonModel, is silenced here.
    """
    with _model_args(model_path, pre) as args:
        return mlflow.pyfunc.log_model(name=name, step=step, **args)


def save_model(path, model_path, pre: Preprocessor) -> None:
    """The same MLflow model as :func:`log_model`, written to the folder ``path``
    (which must not exist) instead of a run: the committed test fixture."""
    with _model_args(model_path, pre) as args:
        mlflow.pyfunc.save_model(path=str(path), **args)


def prepare_rows(model, rows):
    """Raw rows made ready for a loaded bnpipe pyfunc ``model``'s ``predict``.

    The model's own :class:`Preprocessor` checks them first, so text in a numeric
    column, a blank its policy refuses, or a value that is no finite float32 input
    is one ``ValueError`` naming the column and the rows (``rows``' index labels),
    not MLflow's schema error. Then a header that differs from the signature's name
    only in Unicode normalization takes the signature's spelling, and columns are
    cast where the signature would refuse a lossless difference: whole numbers to
    "double" (under impute), whole floats to "long", a column with only blanks to
    "string". Other models' rows are returned as they are.
    """
    try:
        pre = getattr(model.unwrap_python_model(), "pre", None)
    except Exception:  # noqa: BLE001 - not a python_model pyfunc: nothing to check
        pre = None
    if isinstance(pre, Preprocessor):
        pre.check(rows)
    schema = model.metadata.get_input_schema() if model.metadata else None
    if schema is None or not schema.has_input_names():
        return rows
    rows = rows.rename(columns=same_names(rows.columns, schema.input_names()))
    for spec in schema.inputs:
        if spec.name in rows.columns:
            rows[spec.name] = _cast(rows[spec.name], str(getattr(spec.type, "name", spec.type)))
    return rows


def _cast(s, kind: str):
    """A column cast to its signature type where that loses nothing."""
    import numpy as np
    import pandas as pd

    text = s.dtype == object or isinstance(s.dtype, pd.StringDtype)
    if kind == "double" and (pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s)):
        return s.astype(np.float64)
    whole = pd.api.types.is_float_dtype(s) and s.notna().all() and (s == s.round()).all()
    if kind == "long" and whole:
        return s.astype(np.int64)
    if kind == "string" and not text and s.isna().all():
        return s.astype(object)
    return s

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

from bnpipe.features import Preprocessor
from bnpipe.models import predict_frame

PIP_REQUIREMENTS = [
    "tensorflow-cpu==2.21.0",
    "keras==3.15.1",
    "pandas==3.1.1",
    "numpy==2.4.6",
    "pyyaml==6.0.3",
    "mlflow==3.17.2",
]


class BnpipeModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: ``predict(raw_rows) -> DataFrame``."""

    def load_context(self, context):
        import keras

        self.model = keras.models.load_model(context.artifacts["keras_model"], compile=False)
        with open(context.artifacts["preprocessor"], encoding="utf-8") as fh:
            self.pre = Preprocessor.from_dict(json.load(fh))

    def predict(self, context, model_input, params=None):
        return predict_frame(self.model, self.pre, model_input)


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


def signature(pre: Preprocessor):
    """Raw feature columns in, typed as training saw them; predictions out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema(
        [
            ColSpec(
                "string" if clean in pre.categories else pre.column_types.get(clean, "double"), raw
            )
            for raw, clean in zip(pre.raw_features, pre.features, strict=True)
        ]
    )
    if pre.task == "classification":
        outputs = Schema(
            [ColSpec("string", "label")] + [ColSpec("double", f"proba_{c}") for c in pre.classes]
        )
    else:
        outputs = Schema([ColSpec("double", "prediction")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_model(model_path, pre: Preprocessor, *, name: str = "model"):
    """Log the Keras model saved at ``model_path`` (.keras) + ``pre`` as a pyfunc
    model to the active run. Loads neither TensorFlow nor the model.

    No ``input_example``: MLflow 3.17 crashes writing it (DESIGN.md section 5);
    the explicit signature documents the input instead. Its advice to pass one,
    and to prefer models-from-code over a pickled PythonModel, is silenced here.
    """
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        pre_path = Path(tmp, "preprocessor.json")
        pre_path.write_text(json.dumps(pre.to_dict(), ensure_ascii=False, indent=2), "utf-8")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=BnpipeModel(),
            artifacts={"keras_model": str(model_path), "preprocessor": str(pre_path)},
            signature=signature(pre),
            pip_requirements=PIP_REQUIREMENTS,
        )

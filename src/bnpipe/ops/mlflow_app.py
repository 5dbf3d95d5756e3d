"""The MLflow server app of bnpipe's stack: MLflow's own, whose UI opens in its
*Model training* mode in a browser that has not chosen a mode yet.

MLflow 3.17's UI decides where an experiment opens from the browser's workflow
type alone: ``localStorage["mlflow.workflowType_v1"]``, GenAI when unset, or a
``workflowType`` URL parameter. The experiment tag ``mlflow.experimentKind`` is
read only when the UI's flag for its GenAI / Model training switch is off, and
that flag is hard-wired on. In GenAI mode a click on an experiment in the
experiment list lands on an empty traces overview; in Model training mode on
its runs. So this app serves MLflow's ``index.html`` with one script ahead of
the UI's, which stores Model training as the browser's choice when it has none
(a choice someone made with the switch stays theirs).

``mlflow server --app-name bnpipe`` serves it (``bnpipe-basic-auth``: the same on
MLflow's basic-auth app); both are this package's ``mlflow.app`` entry points,
factories called in the server's worker.
"""

from __future__ import annotations

import json

WORKFLOW_KEY = "mlflow.workflowType_v1"  # the UI's useLocalStorage key: name + "_v" + version
MODEL_TRAINING = "machine_learning"
_KEY, _VALUE = json.dumps(WORKFLOW_KEY), json.dumps(json.dumps(MODEL_TRAINING))  # JS literals
DEFAULT_SCRIPT = (
    f"<script>try{{if(localStorage.getItem({_KEY})===null)"
    f"localStorage.setItem({_KEY},{_VALUE})}}catch(e){{}}</script>"
)


def with_model_training_default(html: str) -> str:
    """``html`` (the UI's index page) with :data:`DEFAULT_SCRIPT` ahead of its
    first script, so it runs before the UI reads the stored mode."""
    at = html.find("<script")
    if at < 0:
        at = html.find("</head>")
    return html if at < 0 else html[:at] + DEFAULT_SCRIPT + html[at:]


def patch_index(flask_app) -> None:
    """Serve the UI's index page (MLflow's ``serve`` view) through
    :func:`with_model_training_default`; not cached, so a browser that kept
    MLflow's own page gets this one."""
    from pathlib import Path

    original = flask_app.view_functions["serve"]
    if getattr(original, "bnpipe_default", False):
        return

    def serve():
        index = Path(flask_app.static_folder, "index.html")
        if not index.is_file():
            return original()  # a source install without the UI: MLflow's own answer
        page = with_model_training_default(index.read_text("utf-8"))
        return flask_app.response_class(
            page, mimetype="text/html", headers={"Cache-Control": "no-cache"}
        )

    serve.bnpipe_default = True
    flask_app.view_functions["serve"] = serve


def _served(flask_app, asgi_app):
    """The app for the server MLflow runs it in: ASGI under uvicorn (its default),
    WSGI (the Flask app) under gunicorn or waitress."""
    from mlflow.environment_variables import _MLFLOW_SGI_NAME

    return asgi_app() if _MLFLOW_SGI_NAME.get() == "uvicorn" else flask_app


def create_app():
    """MLflow's server app with the UI's Model training default (``--app-name bnpipe``)."""
    from mlflow.server import app as flask_app

    patch_index(flask_app)

    def asgi():
        from mlflow.server.fastapi_app import app

        return app

    return _served(flask_app, asgi)


def create_auth_app():
    """MLflow's basic-auth app with the UI's Model training default
    (``--app-name bnpipe-basic-auth``): the same users, permissions and settings
    as ``--app-name basic-auth``."""
    from mlflow.server import app as flask_app
    from mlflow.server.auth import create_app as basic_auth

    patch_index(flask_app)
    return basic_auth(flask_app)  # itself ASGI under uvicorn, WSGI otherwise

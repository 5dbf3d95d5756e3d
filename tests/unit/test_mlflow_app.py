"""bnpipe's MLflow server app: MLflow's own, its UI page storing *Model training*
as a new browser's mode; the installed UI still reads the mode from that key.

The browser half (a click in the experiment list lands on the runs table) is
tests/e2e/test_ui.py's; here: the page MLflow's real Flask app serves through
the app, a real ``mlflow ui --app-name bnpipe`` on a SQLite store, and the
facts of the installed UI bundle the app relies on.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bnpipe.ops import mlflow_app
from tests.httpfiles import dead_port

BUILD = Path(sys.prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")
BUILD = BUILD / "site-packages" / "mlflow" / "server" / "js" / "build"


def test_the_default_goes_ahead_of_the_uis_own_scripts():
    page = '<html><head><title>MLflow</title><script defer src="main.js"></script></head></html>'
    out = mlflow_app.with_model_training_default(page)
    assert out.index(mlflow_app.DEFAULT_SCRIPT) < out.index('<script defer src="main.js">')
    assert out.replace(mlflow_app.DEFAULT_SCRIPT, "") == page
    bare = "<html><head></head></html>"
    assert mlflow_app.with_model_training_default(bare) == (
        f"<html><head>{mlflow_app.DEFAULT_SCRIPT}</head></html>"
    )
    # only when the browser has no choice yet: a mode someone picked stays theirs
    assert 'localStorage.getItem("mlflow.workflowType_v1")===null' in mlflow_app.DEFAULT_SCRIPT
    assert 'setItem("mlflow.workflowType_v1","\\"machine_learning\\"")' in (
        mlflow_app.DEFAULT_SCRIPT
    )


def test_mlflows_flask_app_serves_its_ui_page_with_the_default():
    from mlflow.server import app

    mlflow_app.patch_index(app)
    mlflow_app.patch_index(app)  # once is enough: a second patch changes nothing
    answer = app.test_client().get("/")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert answer.headers["Cache-Control"] == "no-cache"
    assert page.count(mlflow_app.DEFAULT_SCRIPT) == 1
    assert page.index(mlflow_app.DEFAULT_SCRIPT) < page.index("<script", page.index("</script>"))
    assert page.replace(mlflow_app.DEFAULT_SCRIPT, "") == (BUILD / "index.html").read_text("utf-8")


def test_the_installed_ui_opens_an_experiment_by_the_stored_mode_not_the_tag():
    """What the app relies on, read from MLflow's UI bundle: the mode is kept as
    ``mlflow.workflowType`` version 1 (stored under ``<key>_v<version>``), GenAI by
    default, and the experiment kind comes from it while the switch's flag is on.
    An MLflow whose UI changes this fails here first."""
    main = next((BUILD / "static" / "js").glob("main.*.js")).read_text("utf-8")
    hook = re.search(r'key:"mlflow\.workflowType",version:(\d+),initialValue:(\w+)', main)
    assert (
        hook is not None
        and f"_v{hook.group(1)}" == mlflow_app.WORKFLOW_KEY.rpartition("mlflow.workflowType")[2]
    )
    assert "const o=(e,t)=>`${e}_v${t}`" in main  # the UI's localStorage key
    assert 'e.GENAI="genai",e.MACHINE_LEARNING="machine_learning"' in main
    # the experiment kind: from the mode when the flag is on, else from the tag
    assert (
        'n?m(t):(e=>{var t;return null===e||void 0===e||null===(t=e.find(e=>"mlflow.experimentKind"'
        in main
    )


def test_the_entry_points_name_the_apps_mlflow_server_runs():
    from mlflow.server import _find_app, _is_factory

    assert _find_app("bnpipe") == "bnpipe.ops.mlflow_app:create_app"
    assert _find_app("bnpipe-basic-auth") == "bnpipe.ops.mlflow_app:create_auth_app"
    assert _is_factory(_find_app("bnpipe"))  # called in the server's worker, not at import


def _page(argv, cwd, url, env=None, headers=None, timeout=180):
    """Run an MLflow server (``argv``), wait for ``url`` to answer and return
    (status, body) of a GET with ``headers``; the server is stopped."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                request = urllib.request.Request(url, headers=headers or {})
                with urllib.request.urlopen(request, timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()
            except OSError:
                time.sleep(1)
        raise AssertionError(f"the MLflow server did not answer (exit {proc.poll()})")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.mark.slow
def test_mlflow_ui_with_the_bnpipe_app_serves_the_default(tmp_path):
    """The command bnpipe prints for a SQLite store's UI, run for real."""
    from bnpipe import links
    from bnpipe.settings import load_settings

    settings = load_settings(
        {
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "BNPIPE_MLFLOW_PORT": dead_port(),
        }
    )
    argv = links.ui_command(settings).split()
    argv[0] = str(Path(sys.executable).with_name("mlflow"))
    status, page = _page(argv, tmp_path, f"{links.ui_base(settings)}/")
    assert status == 200 and mlflow_app.DEFAULT_SCRIPT in page


@pytest.mark.slow
def test_the_basic_auth_app_asks_for_credentials_then_serves_the_default(tmp_path):
    """``--app-name bnpipe-basic-auth``, as the stack runs it with auth: MLflow's
    basic auth (a page without credentials is refused), and the same page."""
    import base64
    import os
    import secrets

    password = secrets.token_urlsafe(24)
    ini = tmp_path / "auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'auth.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        "utf-8",
    )
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    port = dead_port()
    argv = [
        str(Path(sys.executable).with_name("mlflow")), "server", "--app-name",
        "bnpipe-basic-auth", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    status, _ = _page(argv, tmp_path, url, env=env)
    assert status == 401
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    status, page = _page(argv, tmp_path, url, env=env, headers={"Authorization": f"Basic {token}"})
    assert status == 200 and mlflow_app.DEFAULT_SCRIPT in page

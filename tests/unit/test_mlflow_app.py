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


@pytest.mark.slow
def test_mlflow_ui_with_the_bnpipe_app_serves_the_default(tmp_path):
    """The command bnpipe prints for a SQLite store's UI, run for real."""
    from bnpipe import links
    from bnpipe.settings import load_settings

    port = dead_port()
    settings = load_settings(
        {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "BNPIPE_MLFLOW_PORT": port}
    )
    argv = links.ui_command(settings).split()
    argv[0] = str(Path(sys.executable).with_name("mlflow"))
    proc = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline, page = time.monotonic() + 180, None
        while page is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{links.ui_base(settings)}/", timeout=5) as r:
                    page = r.read().decode()
            except OSError:
                time.sleep(1)
        assert page is not None, f"mlflow ui did not answer (exit {proc.poll()})"
        assert mlflow_app.DEFAULT_SCRIPT in page
    finally:
        proc.terminate()
        proc.wait(timeout=60)

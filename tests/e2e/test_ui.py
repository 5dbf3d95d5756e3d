"""What the MLflow and Prefect UIs show after a real run, in a real browser.

The session's shared stack (``local_stack``: `bnpipe stack up`'s Prefect server
and worker, MLflow server and Dask on 127.0.0.1), one `bnpipe run iris` that
orchestrates through that Prefect server, trains on its Dask cluster and tracks
to its MLflow server over HTTP, as a shell with `bnpipe stack env`'s settings
would; then Debian's Chromium (the session's ``browser``), driven by Playwright
through its ``executable_path`` (Playwright's own browser download cannot work
offline), opens the links the run printed. The other tests on the shared stack
train datasets of their own (``iris-stack``, ``iris-watch``), not ``iris``.

Screenshots go to ``$BNPIPE_TEST_OUTPUT/screenshots`` (default
``.test-output/screenshots`` in the checkout); the PNGs under ``docs/`` are
copies of them.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.e2e.stacks import BIN, REPO, explain, get_json, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEEDS, EPOCHS = 2, 200
SEED_RUNS = [f"{v}-seed{s}" for v in ("plain", "bn") for s in range(SEEDS)]
PANEL_TEXT = "Ask questions about your experiments"  # MLflow 3.17's assistant panel
PAGE_TIMEOUT_MS = 60_000  # a first page load compiles the UI's bundles on a busy machine


def screenshots_dir() -> Path:
    out = Path(os.environ.get("BNPIPE_TEST_OUTPUT") or REPO / ".test-output") / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def ui_run(local_stack, http_mirror):
    """One `bnpipe run iris` through the shared stack, as a user would after `stack up`
    and `eval "$(bnpipe stack env)"`; the data comes over HTTP from a loopback mirror
    (an http source in MLflow)."""
    project = local_stack.project
    bnpipe = BIN / "bnpipe"
    env = {
        **project.env,
        **local_stack.shell,  # the stack's Prefect API and Dask scheduler
        "MLFLOW_TRACKING_URI": project.mlflow_url,  # over HTTP, as from another host
        "BNPIPE_DATA_MIRROR": http_mirror[0],
    }
    assert env["PREFECT_API_URL"] == project.api_url
    done = run([bnpipe, "run", "iris", "--seeds", SEEDS, "--epochs", EPOCHS], env, timeout=900)
    assert done.returncode == 0, explain(done, project)
    (screenshots_dir().parent / "bnpipe-run-ui.txt").write_text(done.stdout)
    from mlflow import MlflowClient

    client = MlflowClient(project.mlflow_url)
    exp = client.get_experiment_by_name("bn-comparison-iris")
    runs = client.search_runs([exp.experiment_id])
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.info.run_name: r for r in runs if r.info.run_name in SEED_RUNS}
    return SimpleNamespace(
        project=project,
        env=env,
        mirror=http_mirror[0],
        stdout=done.stdout,
        links=printed_links(done.stdout, "iris"),
        experiment_id=exp.experiment_id,
        parent=parent,
        children=children,
        client=client,
    )


def printed_links(stdout: str, dataset: str) -> dict[str, str]:
    """``  iris runs:    http://...`` lines at the end of `bnpipe run`."""
    found = re.findall(rf"^  {dataset} (runs|parent|compare): +(\S+)$", stdout, re.M)
    return dict(found)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 950})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def open_mlflow(page, url: str) -> None:
    """Open an MLflow UI page; close the assistant panel a browser's first visit opens
    (it would cover the page in the screenshots)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    page.get_by_text("bn-comparison-iris").first.wait_for()
    try:  # each test's browser context is new: the panel opens once in it
        page.get_by_text(PANEL_TEXT).first.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        return
    page.get_by_role("button", name="Close").first.click()
    expect(page.get_by_text(PANEL_TEXT).first).to_be_hidden()


def test_bnpipe_run_ends_with_links_into_the_mlflow_server(ui_run):
    base = ui_run.project.mlflow_url
    eid, parent_id = ui_run.experiment_id, ui_run.parent.info.run_id
    assert f"MLflow UI: {base}" in ui_run.stdout
    links = ui_run.links
    assert links["runs"] == (
        f"{base}/#/experiments/{eid}/runs?viewStateShareKey=bnpipe-comparison"
        "&workflowType=machine_learning"
    )
    # the parent run's name says what it trained, then the flow run's name
    assert re.fullmatch(
        rf"iris, {EPOCHS} epochs, {SEEDS} seeds \(\S+\)", ui_run.parent.info.run_name
    )
    assert links["parent"] == (
        f"{base}/#/experiments/{eid}/runs/{parent_id}?workflowType=machine_learning"
    )
    query = urllib.parse.parse_qs(links["compare"].partition("?")[2])
    assert sorted(json.loads(query["runs"][0])) == sorted(
        r.info.run_id for r in ui_run.children.values()
    )


def test_the_parent_run_page_shows_the_winner_line_and_the_dataset(ui_run, page):
    tags = ui_run.parent.data.tags
    open_mlflow(page, ui_run.links["parent"])
    winner = f"Winner on {tags['primary_metric']}: {tags['winner']}"
    page.get_by_text(winner).first.wait_for()
    page.get_by_text("Show more", exact=True).first.click()  # the whole description
    page.get_by_role("cell", name="linear (logistic)").first.wait_for()  # its table, rendered
    expect(page.get_by_text("iris: plain vs BatchNorm").first).to_be_visible()
    digest = tags["data_sha256"][:12]
    expect(page.get_by_text(f"iris ({digest})").first).to_be_visible()
    [entry] = ui_run.parent.inputs.dataset_inputs
    assert entry.dataset.source_type == "http"
    assert json.loads(entry.dataset.source) == {"url": f"{ui_run.mirror}/iris.csv"}
    expect(page.get_by_text("Model training").first).to_be_visible()  # not the GenAI mode
    page.screenshot(path=screenshots_dir() / "mlflow-parent-run.png", full_page=True)


PRIMARY, VALIDATION = "test_log_loss", "val_log_loss"  # iris: the view's metrics
MEANS = [f"{v}_{PRIMARY}_mean" for v in ("plain", "bn")]
VIEW_NAME = f"bnpipe: winner and {PRIMARY}"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def expand_parent(page, ui_run) -> None:
    """Unfold the seed runs under the parent (the expander beside its name)."""
    row = page.get_by_role("row").filter(has_text=ui_run.parent.info.run_name).first
    row.wait_for()
    expect(page.get_by_text("plain-seed0")).to_have_count(0)  # folded under the parent
    row.locator("button").first.click()
    for name in SEED_RUNS:
        page.get_by_role("row").filter(has_text=name).first.wait_for()


def shown_rows(page, ui_run) -> dict[str, list[str]]:
    """Each run's cells of values, by run name. The table is two grids side by side:
    the names (pinned) and the other columns, the same runs in the same order; the
    page has the rows of names first, then the rows of values."""
    parent_name = ui_run.parent.info.run_name
    rows = page.get_by_role("row").all_inner_texts()
    at = [i for i, r in enumerate(rows) if any(n in r for n in (*SEED_RUNS, parent_name))]
    values = rows[at[-1] + 1 : at[-1] + 1 + len(at)]
    assert len(at) == len(values) == 1 + len(SEED_RUNS), rows
    shown = {}
    for i, value_cells in zip(at, values, strict=True):
        [name] = [n for n in SEED_RUNS if n in rows[i]] or [parent_name]
        shown[name] = value_cells.splitlines()
    return shown


def test_the_runs_link_opens_the_view_with_the_winner_and_each_seeds_metric(ui_run, page):
    """The printed runs link opens bnpipe's saved view: the winner and the primary
    test metric are columns without picking them (MLflow's own default has none)."""
    open_mlflow(page, ui_run.links["runs"])
    page.get_by_role("columnheader", name="winner").first.wait_for()
    expect(page.get_by_text("Runs", exact=True).first).to_be_visible()  # runs, not traces
    expect(page.get_by_text(VIEW_NAME).first).to_be_visible()  # the Views menu names it
    headers = page.get_by_role("columnheader").all_inner_texts()
    for column in ("winner", PRIMARY, VALIDATION, *MEANS):
        assert column in headers, headers
    expand_parent(page, ui_run)
    shown = shown_rows(page, ui_run)

    def numbers(cells: list[str]) -> list[float]:
        return [float(c) for c in cells if NUMBER.fullmatch(c)]

    # metrics columns come by name (MLflow orders them so), then the tags
    parent = ui_run.parent
    assert parent.data.tags["winner"] in shown[parent.info.run_name]
    assert numbers(shown[parent.info.run_name]) == pytest.approx(
        [parent.data.metrics[m] for m in sorted(MEANS)], rel=1e-9
    )
    for name, child in ui_run.children.items():
        expected = [child.data.metrics[m] for m in sorted((PRIMARY, VALIDATION))]
        assert numbers(shown[name]) == pytest.approx(expected, rel=1e-9), (name, shown[name])
        assert parent.data.tags["winner"] not in shown[name]  # the parent's tag alone
    page.screenshot(path=screenshots_dir() / "mlflow-runs.png")

    # any other metric is one pick away in the column picker
    page.get_by_role("button", name="Columns", exact=True).click()
    page.get_by_text("test_accuracy", exact=True).first.click()
    page.keyboard.press("Escape")
    page.get_by_role("columnheader", name="test_accuracy").first.wait_for()


def test_a_click_in_the_experiment_list_opens_the_experiments_runs(ui_run, page):
    """A new browser (no mode chosen yet) on the experiment list, without bnpipe's
    links: the click on the experiment lands on its runs table, not on MLflow's
    GenAI overview; the Views menu has bnpipe's view."""
    base = ui_run.project.mlflow_url
    open_mlflow(page, f"{base}/#/experiments")
    page.get_by_role("link", name="bn-comparison-iris", exact=True).first.click()
    page.get_by_role("row").filter(has_text=ui_run.parent.info.run_name).first.wait_for()
    expect(page).to_have_url(re.compile(rf"#/experiments/{ui_run.experiment_id}/runs"))
    assert page.evaluate("localStorage.getItem('mlflow.workflowType_v1')") == ('"machine_learning"')
    expect(page.get_by_text("Model training", exact=True).first).to_be_visible()
    page.get_by_role("button", name="Views").click()  # the saved views
    page.get_by_text(VIEW_NAME).first.wait_for()
    page.screenshot(path=screenshots_dir() / "mlflow-experiment-list.png")
    page.get_by_text(VIEW_NAME).first.click()
    page.get_by_role("columnheader", name=PRIMARY).first.wait_for()
    page.get_by_role("columnheader", name="winner").first.wait_for()


def test_a_browser_whose_person_chose_genai_keeps_it(ui_run, browser):
    """The default is for a browser without a choice: one that chose GenAI (the
    stored mode, as the UI's switch keeps it) opens the experiment on the GenAI
    overview, as MLflow does."""
    context = browser.new_context(viewport={"width": 1600, "height": 950})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.add_init_script("localStorage.setItem('mlflow.workflowType_v1', '\"genai\"')")
    try:
        page = context.new_page()
        open_mlflow(page, f"{ui_run.project.mlflow_url}/#/experiments")
        page.get_by_role("link", name="bn-comparison-iris", exact=True).first.click()
        page.get_by_text("Training runs", exact=True).first.wait_for()  # GenAI's side nav
        expect(page.get_by_text("Overview", exact=True).first).to_be_visible()
        expect(page.get_by_role("row").filter(has_text=ui_run.parent.info.run_name)).to_have_count(
            0
        )
        assert page.evaluate("localStorage.getItem('mlflow.workflowType_v1')") == '"genai"'
    finally:
        context.close()


def test_the_logged_model_page_shows_the_final_and_test_metrics(ui_run, page):
    """A seed's logged model, named like its run, lists the last epoch's loss (not
    the first's) and the test metrics with the test rows as their dataset."""
    base, eid = ui_run.project.mlflow_url, ui_run.experiment_id
    open_mlflow(page, f"{base}/#/experiments/{eid}/models?workflowType=machine_learning")
    for name in SEED_RUNS:  # the experiment's Models tab: one model per seed, by name
        page.get_by_role("link", name=name, exact=True).first.wait_for()
    child = ui_run.children["bn-seed0"]
    page.get_by_role("link", name="bn-seed0", exact=True).first.click()
    page.get_by_text("Metrics (", exact=False).first.wait_for()
    [output] = child.outputs.model_outputs
    expect(page).to_have_url(re.compile(rf"/models/{output.model_id}"))
    rows = {}
    for text in page.get_by_role("row").all_inner_texts():
        cells = text.split("\n")
        if len(cells) == 4 and cells[2] == "bn-seed0":  # metric, dataset, source run, value
            rows[cells[0]] = (cells[1], float(cells[3]))
    final = ui_run.client.get_metric_history(child.info.run_id, "loss")
    assert len(final) == EPOCHS
    assert rows["loss"] == ("-", pytest.approx(final[-1].value, rel=1e-9))
    assert rows["loss"][1] != pytest.approx(final[0].value, rel=1e-6)  # not the first epoch's
    assert rows["val_loss"][0].startswith("iris-validation (")
    for metric in ("test_accuracy", "test_log_loss", "test_macro_f1"):
        dataset, value = rows[metric]
        assert dataset.startswith("iris-test (") and value == pytest.approx(
            child.data.metrics[metric], rel=1e-9
        ), (metric, rows)
    page.screenshot(path=screenshots_dir() / "mlflow-logged-model.png", full_page=True)


def test_the_compare_link_opens_a_page_naming_every_seed_run(ui_run, page):
    open_mlflow(page, ui_run.links["compare"])
    for name in SEED_RUNS:
        page.get_by_text(name).first.wait_for()
    expect(page.get_by_text(f"Comparing {len(SEED_RUNS)} Runs").first).to_be_visible()
    page.screenshot(path=screenshots_dir() / "mlflow-compare-runs.png")


def test_the_prefect_flow_run_page_shows_the_comparison_and_links_the_mlflow_run(ui_run, page):
    project = ui_run.project
    flow_run_id = ui_run.parent.data.tags["prefect_flow_run_id"]
    artifacts = get_json(
        f"{project.api_url}/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}},
    )
    kinds = {a["key"]: a for a in artifacts}
    assert kinds["bn-comparison-iris"]["type"] == "markdown"
    link = kinds["mlflow-run-iris"]  # Prefect keeps a link artifact as markdown: [text](url)
    assert f"]({ui_run.links['parent']})" in link["data"], link["data"]

    page.goto(f"http://127.0.0.1:{project.prefect_port}/runs/flow-run/{flow_run_id}")
    page.get_by_text("Artifacts", exact=True).first.click()  # the flow run's tabs
    page.get_by_text("bn-comparison-iris").first.wait_for()
    page.screenshot(path=screenshots_dir() / "prefect-flow-run-artifacts.png", full_page=True)
    page.get_by_text("bn-comparison-iris").first.click()
    page.get_by_text("iris: plain vs BatchNorm").first.wait_for()
    # the artifact's page names the flow run it belongs to, not "None"
    flow_run = get_json(f"{project.api_url}/flow_runs/{flow_run_id}")
    expect(page.get_by_text(flow_run["name"]).first).to_be_visible()
    tags = ui_run.parent.data.tags
    expect(
        page.get_by_text(f"Winner on {tags['primary_metric']}: {tags['winner']}").first
    ).to_be_visible()
    page.screenshot(path=screenshots_dir() / "prefect-comparison-artifact.png", full_page=True)


def test_an_unchanged_run_says_so_on_its_flow_run_page(ui_run, page):
    """The same run again trains nothing; its flow run is 'Unchanged' and its artifact
    shows the earlier run's table."""
    project = ui_run.project
    argv = [BIN / "bnpipe", "run", "iris", "--seeds", SEEDS, "--epochs", EPOCHS]
    again = run(argv, ui_run.env, timeout=600)
    assert again.returncode == 0, explain(again, project)
    assert f"iris: unchanged since run {ui_run.parent.info.run_id}" in again.stdout
    unchanged = get_json(
        f"{project.api_url}/flow_runs/filter",
        {"flow_runs": {"state": {"name": {"any_": ["Unchanged"]}}}},
    )  # on the shared stack: this one, and those of other tests' datasets
    [skipped] = [r for r in unchanged if ui_run.parent.info.run_id in r["state"]["message"]]
    assert "iris: unchanged since run" in skipped["state"]["message"], skipped
    page.goto(f"http://127.0.0.1:{project.prefect_port}/runs/flow-run/{skipped['id']}")
    expect(page.get_by_text("Unchanged", exact=True).first).to_be_visible()
    page.get_by_text("Artifacts", exact=True).first.click()
    page.get_by_text("bn-comparison-iris").first.wait_for()
    page.get_by_text("bn-comparison-iris").first.click()
    page.get_by_text("iris: unchanged, nothing retrained").first.wait_for()
    expect(page.get_by_text(f"run {ui_run.parent.info.run_id}").first).to_be_visible()
    page.screenshot(path=screenshots_dir() / "prefect-unchanged-run.png", full_page=True)

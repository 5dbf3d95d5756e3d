"""The repository explains itself and keeps its shape: README is a newcomer's
page, every relative link in README and docs/ resolves, nothing cites a file
outside the repository, and no module grows past the size one reader can hold."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 12_000
MODULE_LIMIT = 450
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def test_readme_is_a_newcomers_page():
    size = len((ROOT / "README.md").read_text(encoding="utf-8"))
    assert size <= README_LIMIT, f"README.md is {size} characters; move detail into docs/"


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_nothing_cites_a_file_outside_the_repository():
    outside = re.compile(r"DESIGN\.md|ISSUE-NOTES")
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _tracked("*.py", "*.md", "*.yaml", "*.toml", "Makefile")
        if path.name != Path(__file__).name
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert not hits, hits


def test_no_module_is_over_the_limit():
    big = {
        str(path.relative_to(ROOT)): n
        for path in _tracked("src/*.py", "flows/*.py", "tasks/*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LIMIT
    }
    assert not big, f"modules over {MODULE_LIMIT} lines: {big}"


def test_every_package_is_installed():
    """setuptools installs the packages pyproject lists, no others: a package
    missing from the list is missing from a wheel."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join((*prefix, *init.parent.relative_to(base).parts))
        for base, top, prefix in (
            (ROOT / "src", "bnpipe", ()),
            (ROOT, "flows", ("bnpipe",)),  # installed as bnpipe.flows (package-dir)
            (ROOT, "tasks", ("bnpipe",)),
        )
        for init in (base / top).rglob("__init__.py")
    }
    assert found <= listed, (
        f"packages missing from [tool.setuptools] packages: {sorted(found - listed)}"
    )


def test_every_library_the_code_imports_is_a_declared_dependency():
    """A module the code imports arrives because pyproject asks for it, not because
    some other package happens to bring it (today's pins: requirements.lock)."""
    import ast
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    declared = {
        re.split(r"[\[=<>!~ ;]", d, maxsplit=1)[0].lower().replace("_", "-")
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    ours = {"bnpipe"}
    imported: dict[str, str] = {}
    for path in _tracked("src/*.py", "flows/*.py", "tasks/*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top not in ours and top not in sys.stdlib_module_names and top != "__future__":
                    imported.setdefault(top, str(path.relative_to(ROOT)))
    providers = packages_distributions()
    undeclared = {
        top: (where, providers.get(top))
        for top, where in imported.items()
        if not {d.lower().replace("_", "-") for d in providers.get(top, [])} & declared
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


@pytest.mark.slow
def test_a_users_own_tasks_and_flows_modules_do_not_shadow_bnpipes(tmp_path):
    """The adapters and flows are installed as bnpipe.tasks and bnpipe.flows: no
    package named `tasks` or `flows` is importable from outside the checkout, and a
    user's own tasks.py / flows.py next to their datasets.yaml changes nothing."""
    import subprocess
    import sys

    (tmp_path / "tasks.py").write_text("raise SystemExit('a user tasks.py was imported')\n")
    (tmp_path / "flows.py").write_text("raise SystemExit('a user flows.py was imported')\n")
    probe = (
        "import importlib.util as u, sys; sys.path.remove('') if '' in sys.path else None; "
        "print(u.find_spec('tasks'), u.find_spec('flows')); "
        "sys.path.insert(0, ''); "
        "import bnpipe.flows.bn_comparison, bnpipe.tasks.data; "
        "print(bnpipe.flows.bn_comparison.bn_comparison.name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[:2] == ["None None", "bn-comparison"], out.stdout


def _function(path: Path, name: str):
    import ast

    tree = ast.parse(path.read_text("utf-8"))
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)


def test_both_flows_run_the_one_comparison_chain_and_the_comparison_reads_in_a_screen():
    """bn-comparison and bn-sweep run each dataset (each cell) through the same
    subflow; neither calls a stage of the chain itself, and bn-comparison's body
    (its docstring aside) is at most 40 lines."""
    import ast

    chain = {"train", "evaluate", "log_seed_runs", "register_best", "encode_dataset"}
    for flow in ("bn_comparison", "bn_sweep"):
        path = ROOT / "flows" / f"{flow}.py"
        text = path.read_text("utf-8")
        assert "from bnpipe.flows.compare import" in text and "compare_all(" in text, flow
        called = {
            n.func.id for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }  # fmt: skip
        assert not called & chain, (flow, called & chain)
    body = _function(ROOT / "flows" / "bn_comparison.py", "bn_comparison").body[1:]  # no docstring
    assert body[-1].end_lineno - body[0].lineno + 1 <= 40
    compare = (ROOT / "flows" / "compare.py").read_text("utf-8")
    training = (ROOT / "tasks" / "training.py").read_text("utf-8")
    assert re.search(r'@task\(\s*name="evaluate"', training)  # a task of its own
    assert "evaluate(train(prepared, dask, models))" in compare

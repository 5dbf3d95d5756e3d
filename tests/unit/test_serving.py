"""bnpipe.serving: the pip requirements a logged model carries."""

from __future__ import annotations

from importlib.metadata import version

from bnpipe import serving


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

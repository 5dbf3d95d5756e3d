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

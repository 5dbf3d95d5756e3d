"""bnpipe.catalog: the datasets.yaml catalog, its errors, and mirror URLs."""

from __future__ import annotations

import textwrap
import urllib.parse
from pathlib import Path

import pytest

from bnpipe.catalog import (
    CatalogError,
    DatasetSpec,
    UnknownDatasetError,
    append_entry,
    get_spec,
    load_catalog,
    parse_entry,
)

REPO_CATALOG = Path(__file__).resolve().parents[2] / "datasets.yaml"


def _entry(**over) -> dict:
    entry = {
        "url": "https://example.com/data/toy.csv",
        "task": "regression",
        "target": "y",
        "features": ["a", "b", "c"],
        "categorical": ["c"],
    }
    entry.update(over)
    return {k: v for k, v in entry.items() if v is not ...}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "datasets.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the shipped catalog


def test_shipped_catalog_matches_the_notebook():
    catalog = load_catalog(REPO_CATALOG)
    assert sorted(catalog) == ["boston", "iris"]
    boston, iris = catalog["boston"], catalog["iris"]
    assert (boston.task, boston.target) == ("regression", "medv")
    assert boston.features == (
        "crim", "zn", "indus", "chas", "nox", "rm", "age",
        "dis", "rad", "tax", "ptratio", "b", "lstat",
    )  # fmt: skip
    assert boston.sha256 is None and iris.sha256 is None  # built-ins follow upstream
    assert (iris.task, iris.target, iris.target_column) == ("classification", "품종", "species")
    # the mislabeled headers hold sepal length, sepal width, petal length, petal width
    assert iris.feature_columns == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert iris.features == ("꽃잎길이", "꽃잎폭", "꽃받침길이", "꽃받침폭")
    assert boston.suite == "boston" and iris.suite == "iris"


# --------------------------------------------------------------------------- parse_entry


def test_the_built_in_datasets_ship_a_bundled_copy_with_its_digest():
    """The catalog records each bundled copy's SHA-256, the package holds the file,
    and both are what the notebook's upstream serves (the entries stay unpinned)."""
    import hashlib

    from bnpipe.ingest import bundled_bytes

    catalog = load_catalog(REPO_CATALOG)
    for name, upstream_sha in (
        ("boston", "ab16ba38fbbbbcc69fe930aab1293104f1442c8279c130d9eba03dd864bef675"),
        ("iris", "c71eef0adf63b2f8d2682feb8c643784afe7880463e8938dea17babdd9d2faac"),
    ):
        spec = catalog[name]
        assert spec.sha256 is None  # scheduled retraining follows upstream
        assert spec.bundled is not None and spec.bundled.sha256 == upstream_sha
        assert hashlib.sha256(bundled_bytes(spec.bundled.file)).hexdigest() == upstream_sha


@pytest.mark.parametrize(
    ("bundled", "rule"),
    [
        ("iris.csv", "'bundled' must be a mapping with 'file' and 'sha256'"),
        ({"file": "iris.csv"}, "'bundled' must be a mapping with 'file' and 'sha256'"),
        ({"file": "../x.csv", "sha256": "a" * 64}, "'bundled.file' must be a CSV file name"),
        ({"file": "iris.csv", "sha256": "abc"}, "'bundled.sha256' must be 64 lowercase hex"),
    ],
)
def test_a_malformed_bundled_field_is_a_catalog_error(bundled, rule):
    with pytest.raises(CatalogError) as err:
        parse_entry("toy", _entry(bundled=bundled), "datasets.yaml")
    assert f"datasets.yaml: dataset 'toy': field {rule}" in str(err.value)


def test_parse_entry_fills_defaults():
    spec = parse_entry("toy", _entry(categorical=..., description="a toy"), "cat.yaml")
    assert spec == DatasetSpec(
        name="toy",
        url="https://example.com/data/toy.csv",
        task="regression",
        target="y",
        features=("a", "b", "c"),
        categorical=(),
        suite="toy",  # defaults to the dataset's name
        sha256=None,
        rename={},
        description="a toy",
    )


def test_parse_entry_keeps_a_valid_sha256_pin_and_suite():
    pin = "ab" * 32
    spec = parse_entry("toy", _entry(sha256=pin, suite="shared"))
    assert spec.sha256 == pin and spec.suite == "shared"


@pytest.mark.parametrize(
    ("override", "field", "rule"),
    [
        ({"url": ...}, "url", "missing required field"),
        ({"url": None}, "url", "missing required field"),
        ({"url": 42}, "url", "must be text"),
        ({"url": "ftp://example.com/toy.csv"}, "url", "http, https or file URL"),
        ({"url": "toy.csv"}, "url", "http, https or file URL"),
        ({"task": ...}, "task", "missing required field"),
        ({"task": "clustering"}, "task", "must be one of regression, classification"),
        ({"target": ...}, "target", "missing required field"),
        ({"features": ...}, "features", "missing required field"),
        ({"features": "a,b,c"}, "features", "must be a list"),
        ({"features": []}, "features", "non-empty list"),
        ({"features": ["a", 1]}, "features", "non-empty list"),
        ({"features": ["a", "y"]}, "features", "must not contain the target"),
        ({"categorical": ["zzz"]}, "categorical", "list of feature columns"),
        ({"categorical": "c"}, "categorical", "list of feature columns"),
        ({"rename": ["a", "b"]}, "rename", "mapping"),
        ({"sha256": "ABCD"}, "sha256", "64 lowercase hex"),
        ({"sha256": "AB" * 32}, "sha256", "64 lowercase hex"),
        ({"sha256": 12345}, "sha256", "64 lowercase hex"),
    ],
)
def test_parse_entry_errors_name_file_dataset_and_field(override, field, rule):
    with pytest.raises(CatalogError) as err:
        parse_entry("toy", _entry(**override), "/etc/bnpipe/datasets.yaml")
    message = str(err.value)
    assert "/etc/bnpipe/datasets.yaml" in message
    assert "dataset 'toy'" in message
    assert f"'{field}'" in message
    assert rule in message


@pytest.mark.parametrize("name", ["Boston", "1st", "my data", "", "café", "flats\n", "-x"])
def test_parse_entry_rejects_bad_names(name):
    with pytest.raises(CatalogError, match="name must start with a lowercase letter, then "):
        parse_entry(name, _entry(), "cat.yaml")


def test_a_name_has_at_most_64_characters():
    assert parse_entry("a" * 64, _entry(), "cat.yaml").name == "a" * 64
    with pytest.raises(CatalogError) as info:
        parse_entry("a" * 65, _entry(), "cat.yaml")
    assert str(info.value) == (
        f"cat.yaml: dataset '{'a' * 65}': name must be at most 64 characters, not 65"
    )


def test_parse_entry_rejects_an_entry_that_is_not_a_mapping():
    with pytest.raises(CatalogError, match=r"cat\.yaml: dataset 'toy': entry must be a mapping"):
        parse_entry("toy", ["url", "task"], "cat.yaml")


@pytest.mark.parametrize("rename", [{"a": "x", "b": "x"}, {"a": "y"}])
def test_parse_entry_rejects_a_rename_that_collides(rename):
    with pytest.raises(CatalogError, match="rename") as err:
        parse_entry("toy", _entry(rename=rename), "cat.yaml")
    assert "dataset 'toy'" in str(err.value)


# --------------------------------------------------------------------------- load_catalog


def test_load_catalog_reads_every_entry(tmp_path):
    path = _write(
        tmp_path,
        """\
        # a comment
        datasets:
          toy:
            url: file:///data/toy.csv
            task: classification
            target: label
            features: [x1, x2]
            rename: {x1: first}
          other:
            url: http://127.0.0.1:8000/other.csv
            task: regression
            target: y
            features: [z]
        """,
    )
    catalog = load_catalog(path)
    assert list(catalog) == ["toy", "other"]
    assert catalog["toy"].feature_columns == ("first", "x2")
    assert catalog["toy"].clean("x2") == "x2"
    assert catalog["other"].url == "http://127.0.0.1:8000/other.csv"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("datasets: [boston, iris]\n", "expected a top-level 'datasets:' mapping"),
        ("boston:\n  url: x\n", "expected a top-level 'datasets:' mapping"),
        ("", "expected a top-level 'datasets:' mapping"),
        ("datasets:\n  toy: [unclosed\n", "not valid YAML"),
    ],
)
def test_load_catalog_rejects_a_malformed_file(tmp_path, text, rule):
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert str(path) in str(err.value) and rule in str(err.value)


def test_load_catalog_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match="catalog file not found") as err:
        load_catalog(missing)
    assert str(missing) in str(err.value)


def test_load_catalog_bad_entry_names_file_dataset_and_field(tmp_path):
    path = _write(
        tmp_path,
        """\
        datasets:
          good:
            url: https://example.com/good.csv
            task: regression
            target: y
            features: [a]
          broken:
            url: https://example.com/broken.csv
            task: regresion
            target: y
            features: [a]
        """,
    )
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    message = str(err.value)
    assert str(path) in message and "dataset 'broken'" in message and "'task'" in message
    assert "'regresion'" in message  # the offending value is shown


# --------------------------------------------------------------------------- get_spec


def test_get_spec_unknown_lists_known_names():
    catalog = {"iris": parse_entry("iris", _entry()), "boston": parse_entry("boston", _entry())}
    assert get_spec(catalog, "iris").name == "iris"
    with pytest.raises(UnknownDatasetError) as err:
        get_spec(catalog, "titanic")
    assert isinstance(err.value, KeyError)
    assert err.value.name == "titanic" and err.value.known == ["boston", "iris"]
    assert str(err.value) == "unknown dataset 'titanic'; known datasets: boston, iris"


def test_get_spec_on_an_empty_catalog_says_none():
    with pytest.raises(UnknownDatasetError, match="known datasets: none"):
        get_spec({}, "boston")


# --------------------------------------------------------------------------- append_entry


def test_append_entry_round_trips_and_keeps_comments(tmp_path):
    path = REPO_CATALOG.read_text(encoding="utf-8")
    target = tmp_path / "datasets.yaml"
    target.write_text(path, encoding="utf-8")
    spec = parse_entry(
        "wine",
        _entry(
            url="file:///srv/data/wine.csv",
            task="classification",
            target="품질",
            features=["산도", "당도", "color"],
            categorical=["color"],
            rename={"산도": "acidity", "품질": "quality"},
            sha256="0f" * 32,
            description="wine: 한국어 헤더",
        ),
        str(target),
    )
    append_entry(target, spec)
    text = target.read_text(encoding="utf-8")
    assert text.startswith(path)  # the old text, comments included, is untouched
    assert "한국어" in text  # written as UTF-8, not \u escapes
    catalog = load_catalog(target)
    assert list(catalog) == ["boston", "iris", "wine"]
    assert catalog["wine"] == spec
    assert catalog["wine"].target_column == "quality"


def test_append_entry_creates_a_missing_catalog(tmp_path):
    target = tmp_path / "new.yaml"
    spec = parse_entry("toy", _entry(), str(target))
    append_entry(target, spec)
    assert load_catalog(target) == {"toy": spec}


def test_append_entry_to_a_file_without_final_newline(tmp_path):
    target = _write(
        tmp_path,
        "datasets:\n  a:\n    url: https://x.org/a.csv\n    task: regression\n"
        "    target: y\n    features: [q]",
    )
    spec = parse_entry("toy", _entry(), str(target))
    append_entry(target, spec)
    assert list(load_catalog(target)) == ["a", "toy"]


def test_append_entry_writes_the_new_fields_with_comments_and_round_trips(tmp_path):
    target = tmp_path / "datasets.yaml"
    target.write_text(REPO_CATALOG.read_text(encoding="utf-8"), encoding="utf-8")
    features = ["size", "city", "built", *(f"feature_number_{i}" for i in range(12))]
    spec = parse_entry(
        "flats",
        _entry(
            features=features,
            categorical=["city"],
            dates=["built"],
            missing={"default": "impute", "columns": {"city": "drop"}},
            min_frequency=3,
            sep="|",
            drift={"warn": 0.3},
            bundled={"file": "flats.csv", "sha256": "ab" * 32},
            description="flats: with a # and a: colon",
        ),
        str(target),
    )
    append_entry(
        target,
        spec,
        comments={"features": "15 kept", "missing": "size: 4 blank cells", "sep": "detected"},
        notes={"features": ["left out: flat_id (identifier)", "  notes (free text)"]},
    )
    text = target.read_text(encoding="utf-8")
    entry = text.split("\n  flats:\n", 1)[1]
    assert "    sep: '|'  # detected\n" in entry
    assert "    features: [size, city, built, feature_number_0," in entry
    assert "  # 15 kept\n    # left out: flat_id (identifier)\n    #   notes (free text)\n" in entry
    assert "    missing:\n      default: impute\n      columns: {city: drop}  # size: 4" in entry
    assert "    dates: [built]\n" in entry and "    min_frequency: 3\n" in entry
    assert load_catalog(target)["flats"] == spec


def test_append_entry_writes_lists_in_flow_style(tmp_path):
    target = tmp_path / "new.yaml"
    append_entry(target, parse_entry("toy", _entry(), str(target)), comments={"task": "given"})
    assert target.read_text(encoding="utf-8") == (
        "datasets:\n\n"
        "  toy:\n"
        "    description: ''\n"
        "    url: https://example.com/data/toy.csv\n"
        "    task: regression  # given\n"
        "    target: y\n"
        "    features: [a, b, c]\n"
        "    categorical: [c]\n"
        "    suite: toy\n"
        "    sha256: null\n"
    )


# --------------------------------------------------------------------------- source_url


def test_source_url_without_mirror_is_upstream():
    spec = parse_entry("boston", _entry())
    assert spec.source_url(None) == "https://example.com/data/toy.csv"
    assert spec.source_url("") == "https://example.com/data/toy.csv"


@pytest.mark.parametrize("base", ["http://127.0.0.1:8000/data", "http://127.0.0.1:8000/data/"])
def test_source_url_with_http_mirror(base):
    spec = parse_entry("boston", _entry())
    assert spec.source_url(base) == "http://127.0.0.1:8000/data/boston.csv"


def test_source_url_with_directory_mirror_is_a_file_uri(tmp_path):
    folder = tmp_path / "my data"  # a space must be quoted in the URI
    folder.mkdir()
    spec = parse_entry("boston", _entry())
    url = spec.source_url(str(folder))
    assert url.startswith("file:///") and "%20" in url
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    assert path == folder / "boston.csv"


def test_source_url_with_relative_directory_mirror(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = parse_entry("iris", _entry())
    assert spec.source_url("mirror") == (tmp_path / "mirror" / "iris.csv").resolve().as_uri()

"""The dataset catalog (``datasets.yaml``): datasets declared as data.

A malformed entry is a :class:`CatalogError` naming the file, the dataset and
the field; an unknown name is an :class:`UnknownDatasetError` listing the known
ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bnpipe.files import write_atomically

TASKS = ("regression", "classification")
MISSING_POLICIES = ("impute", "drop", "error")
SEPARATORS = (",", ";", "\t", "|")
URL_SCHEMES = ("http", "https", "file")
SCALINGS = ("none", "standard")  # of the inputs and of a regression target
# Training parameters a dataset can default (entry field ``defaults:``); a run's
# flag, when given, wins. Absent: the notebook's setup (raw inputs, raw target,
# the optimizer's Keras learning rate).
DEFAULT_KEYS = ("input_scaling", "target_scaling", "learning_rate")
_NAME = re.compile(r"[a-z][a-z0-9_-]*")
#: A dataset's name becomes file names, an MLflow experiment and model, a Prefect
#: deployment and the first column of every table: at most this many characters.
NAME_MAX = 64
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CatalogError(ValueError):
    """The catalog file is malformed."""


class UnknownDatasetError(KeyError):
    """A dataset name that the catalog does not hold."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name, self.known = name, known

    def __str__(self) -> str:
        return f"unknown dataset {self.name!r}; known datasets: {', '.join(self.known) or 'none'}"


@dataclass(frozen=True)
class Bundled:
    """A copy of the dataset shipped inside the package (``bnpipe/data/<file>``),
    used when the upstream cannot be reached; ``sha256`` is checked before use."""

    file: str
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    url: str
    task: str
    target: str
    features: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    suite: str = ""
    sha256: str | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    bundled: Bundled | None = None
    drift: Mapping[str, float] = field(default_factory=dict)  # overrides of drift levels
    # Blank cells in features: "impute" (median + indicator, or a "missing" category),
    # "drop" (rows with a blank feature), "error" (a validation failure); per column
    # in missing_columns. Rows with a blank target are never trained on.
    missing: str = "error"
    missing_columns: Mapping[str, str] = field(default_factory=dict)
    dates: tuple[str, ...] = ()  # date features, encoded as parts (year, month, weekday, hour)
    min_frequency: int = 0  # categories seen fewer times in training rows fold into "other"
    sep: str = ","  # the CSV's field separator
    # Training defaults of this dataset (DEFAULT_KEYS): input_scaling, target_scaling
    # ("none" | "standard"; target_scaling for regression only), learning_rate (> 0).
    # Empty: the notebook's setup. RunConfig.resolve fills a run's unset flags from it.
    defaults: Mapping[str, object] = field(default_factory=dict)

    def missing_policy(self, column: str) -> str:
        """The blank-cell policy of a feature (CSV name)."""
        return self.missing_columns.get(column, self.missing)

    @property
    def date_columns(self) -> tuple[str, ...]:
        return tuple(self.clean(c) for c in self.dates)

    def source_url(self, mirror: str | None) -> str:
        """The URL to download: ``<mirror>/<name>.csv`` when a mirror is set."""
        if not mirror:
            return self.url
        if "://" in mirror:
            return f"{mirror.rstrip('/')}/{self.name}.csv"
        return Path(mirror, f"{self.name}.csv").resolve().as_uri()

    def clean(self, column: str) -> str:
        """A column's name after the catalog's ``rename``."""
        return self.rename.get(column, column)

    @property
    def target_column(self) -> str:
        return self.clean(self.target)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        return tuple(self.clean(c) for c in self.features)

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        return tuple(self.clean(c) for c in self.categorical)


def _require(entry: Mapping, key: str, where: str, kind: type | tuple[type, ...]):
    if key not in entry or entry[key] is None:
        raise CatalogError(f"{where}: missing required field '{key}'")
    value = entry[key]
    if not isinstance(value, kind):
        raise CatalogError(f"{where}: field '{key}' must be {_kind(kind)}, got {value!r}")
    return value


def _kind(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {str: "text", list: "a list", dict: "a mapping"}.get(k, k.__name__) for k in kinds
    )


def name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a dataset's name, in words; None if nothing."""
    text = str(name)
    if not _NAME.fullmatch(text):
        return "name must start with a lowercase letter, then lowercase letters, digits, '-' or '_'"
    if len(text) > NAME_MAX:
        return f"name must be at most {NAME_MAX} characters, not {len(text)}"
    return None


def parse_entry(name: str, entry: Mapping, source: str = "catalog") -> DatasetSpec:
    """Check one catalog entry and turn it into a :class:`DatasetSpec`."""
    where = f"{source}: dataset '{name}'"
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{where}: entry must be a mapping of fields")
    if problem := name_problem(name):
        raise CatalogError(f"{where}: {problem}")
    url = _require(entry, "url", where, str)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in URL_SCHEMES:
        raise CatalogError(f"{where}: field 'url' must be an http, https or file URL, got {url!r}")
    task = _require(entry, "task", where, str)
    if task not in TASKS:
        raise CatalogError(f"{where}: field 'task' must be one of {', '.join(TASKS)}, got {task!r}")
    target = _require(entry, "target", where, str)
    features = _require(entry, "features", where, list)
    if not features or not all(isinstance(f, str) for f in features):
        raise CatalogError(f"{where}: field 'features' must be a non-empty list of column names")
    if target in features:
        raise CatalogError(f"{where}: field 'features' must not contain the target {target!r}")
    categorical = entry.get("categorical") or []
    if not isinstance(categorical, list) or not set(categorical) <= set(features):
        raise CatalogError(f"{where}: field 'categorical' must be a list of feature columns")
    rename = entry.get("rename") or {}
    if not isinstance(rename, Mapping):
        raise CatalogError(f"{where}: field 'rename' must be a mapping of CSV name to new name")
    unknown = [k for k in rename if k not in features and k != target]
    if unknown:
        raise CatalogError(
            f"{where}: field 'rename' names columns that are neither features nor the target: {unknown}"
        )
    clean = [rename.get(c, c) for c in [*features, target]]
    if len(set(clean)) != len(clean):
        raise CatalogError(
            f"{where}: field 'rename' makes two columns share a name: {sorted({c for c in clean if clean.count(c) > 1})}"
        )
    sha = entry.get("sha256")
    if sha is not None and not (isinstance(sha, str) and _SHA256.match(sha)):
        raise CatalogError(f"{where}: field 'sha256' must be 64 lowercase hex digits or null")
    missing, missing_columns = _missing(entry.get("missing"), features, where)
    dates = entry.get("dates") or []
    if (
        not isinstance(dates, list)
        or not set(dates) <= set(features)
        or set(dates) & set(categorical)
    ):
        raise CatalogError(
            f"{where}: field 'dates' must be a list of feature columns that are not categorical"
        )
    min_frequency = entry.get("min_frequency") or 0
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 0:
        raise CatalogError(f"{where}: field 'min_frequency' must be a whole number >= 0")
    sep = entry.get("sep") or ","
    if sep not in SEPARATORS:
        raise CatalogError(
            f"{where}: field 'sep' must be one of {', '.join(repr(x) for x in SEPARATORS)}, got {sep!r}"
        )
    defaults = _defaults(entry.get("defaults"), task, where)
    return DatasetSpec(
        defaults=defaults,
        missing=missing,
        missing_columns=missing_columns,
        dates=tuple(dates),
        min_frequency=min_frequency,
        sep=sep,
        bundled=_bundled(entry.get("bundled"), where),
        drift=_drift_levels(entry.get("drift"), where),
        name=name,
        url=url,
        task=task,
        target=target,
        features=tuple(features),
        categorical=tuple(categorical),
        suite=str(entry.get("suite") or name),
        sha256=sha,
        rename=dict(rename),
        description=str(entry.get("description") or ""),
    )


def _bundled(value, where: str) -> Bundled | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"file", "sha256"}:
        raise CatalogError(f"{where}: field 'bundled' must be a mapping with 'file' and 'sha256'")
    file, sha = value["file"], value["sha256"]
    if not (isinstance(file, str) and re.match(r"^[A-Za-z0-9_.-]+\.csv$", file)):
        raise CatalogError(f"{where}: field 'bundled.file' must be a CSV file name, got {file!r}")
    if not (isinstance(sha, str) and _SHA256.match(sha)):
        raise CatalogError(f"{where}: field 'bundled.sha256' must be 64 lowercase hex digits")
    return Bundled(file=file, sha256=sha)


def _missing(value, features: list, where: str) -> tuple[str, dict[str, str]]:
    """``missing: impute`` or ``missing: {default: impute, columns: {age: drop}}``."""
    if value is None:
        return "error", {}
    default, columns = value, {}
    if isinstance(value, Mapping):
        if not set(value) <= {"default", "columns"}:
            raise CatalogError(f"{where}: field 'missing' takes 'default' and 'columns'")
        default, columns = value.get("default", "error"), value.get("columns") or {}
    if default not in MISSING_POLICIES:
        raise CatalogError(
            f"{where}: field 'missing' must be one of {', '.join(MISSING_POLICIES)}, got {default!r}"
        )
    if not isinstance(columns, Mapping) or not set(columns) <= set(features):
        raise CatalogError(f"{where}: field 'missing.columns' must map feature columns to policies")
    bad = {c: p for c, p in columns.items() if p not in MISSING_POLICIES}
    if bad:
        raise CatalogError(
            f"{where}: field 'missing.columns' has unknown policies {bad}; use {', '.join(MISSING_POLICIES)}"
        )
    return default, dict(columns)


def _defaults(value, task: str, where: str) -> dict[str, object]:
    """``defaults: {input_scaling: standard, target_scaling: standard, learning_rate: 0.01}``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not set(value) <= set(DEFAULT_KEYS):
        raise CatalogError(
            f"{where}: field 'defaults' must be a mapping of {', '.join(DEFAULT_KEYS)}"
        )
    out: dict[str, object] = {}
    for key in DEFAULT_KEYS:  # in this order, whatever the file's
        if key not in value:
            continue
        given = value[key]
        if key == "learning_rate":
            if (
                isinstance(given, bool)
                or not isinstance(given, int | float)
                or not math.isfinite(given)
                or not given > 0
            ):
                raise CatalogError(
                    f"{where}: field 'defaults.learning_rate' must be a positive number, "
                    f"got {given!r}"
                )
            out[key] = float(given)
            continue
        if given not in SCALINGS:
            raise CatalogError(
                f"{where}: field 'defaults.{key}' must be one of {', '.join(SCALINGS)}, "
                f"got {given!r}"
            )
        if key == "target_scaling" and task != "regression":
            raise CatalogError(
                f"{where}: field 'defaults.target_scaling' is for a regression target; "
                f"this dataset's task is {task}"
            )
        out[key] = given
    return out


DRIFT_LEVELS = ("warn", "block", "relation_warn", "relation_block")


def _drift_levels(value, where: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not set(value) <= set(DRIFT_LEVELS):
        raise CatalogError(
            f"{where}: field 'drift' must be a mapping of {', '.join(DRIFT_LEVELS)} to numbers"
        )
    out = {}
    for key, level in value.items():
        if isinstance(level, bool) or not isinstance(level, int | float) or not level > 0:
            raise CatalogError(f"{where}: field 'drift.{key}' must be a positive number")
        out[key] = float(level)
    if out.get("warn", 0) > out.get("block", float("inf")) or out.get("relation_warn", 0) > out.get(
        "relation_block", float("inf")
    ):
        raise CatalogError(f"{where}: field 'drift': a warn level must not exceed its block level")
    return out


def load_catalog(path: Path) -> dict[str, DatasetSpec]:
    """Read and check every entry of a catalog file."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise CatalogError(f"{path}: catalog file not found") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    entries = doc.get("datasets") if isinstance(doc, Mapping) else None
    if not isinstance(entries, Mapping):
        raise CatalogError(f"{path}: expected a top-level 'datasets:' mapping")
    return {name: parse_entry(name, entry, str(path)) for name, entry in entries.items()}


def get_spec(catalog: Mapping[str, DatasetSpec], name: str) -> DatasetSpec:
    try:
        return catalog[name]
    except KeyError:
        raise UnknownDatasetError(name, sorted(catalog)) from None


def append_entry(
    path: Path,
    spec: DatasetSpec,
    *,
    comments: Mapping[str, str] | None = None,
    notes: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Add an entry at the end of the catalog file, keeping its comments.

    ``comments``: a YAML comment beside a field (``categorical: [city]  # 3 levels``);
    ``notes``: comment lines written after a field's line(s). The entry is written
    in the catalog's own layout (lists and leaf mappings in flow style)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "datasets:\n"
    if not text.endswith("\n"):
        text += "\n"
    block = entry_text(spec, comments=comments, notes=notes)
    write_atomically(path, text + "\n" + block)  # never half an entry


def entry_text(
    spec: DatasetSpec,
    *,
    comments: Mapping[str, str] | None = None,
    notes: Mapping[str, Sequence[str]] | None = None,
    indent: str = "  ",
) -> str:
    """``spec`` as a catalog entry (``  name:`` and its fields, ``indent`` deep), with
    comments; :func:`load_catalog` reads it back into the same spec."""
    comments, notes = comments or {}, notes or {}
    fields: dict[str, object] = {"description": spec.description, "url": spec.url}
    if spec.sep != ",":
        fields["sep"] = spec.sep
    fields |= {
        "task": spec.task,
        "target": spec.target,
        "features": list(spec.features),
        "categorical": list(spec.categorical),
    }
    if spec.dates:
        fields["dates"] = list(spec.dates)
    if spec.missing != "error" or spec.missing_columns or "missing" in comments:
        fields["missing"] = (
            {"default": spec.missing, "columns": dict(spec.missing_columns)}
            if spec.missing_columns
            else spec.missing
        )
    if spec.min_frequency:
        fields["min_frequency"] = spec.min_frequency
    if spec.rename:
        fields["rename"] = dict(spec.rename)
    if spec.defaults:
        fields["defaults"] = dict(spec.defaults)
    fields |= {"suite": spec.suite, "sha256": spec.sha256}
    if spec.drift:
        fields["drift"] = dict(spec.drift)
    if spec.bundled is not None:
        fields["bundled"] = {"file": spec.bundled.file, "sha256": spec.bundled.sha256}
    inner = indent * 2
    lines = [f"{indent}{_yaml_key(spec.name)}:"]
    for key, value in fields.items():
        dumped = _yaml_field(key, value).splitlines()
        if key in comments:
            dumped[-1] += f"  # {_one_line(comments[key])}"
        lines += [inner + line for line in dumped]
        lines += [f"{inner}# {_one_line(note, keep_indent=True)}" for note in notes.get(key, ())]
    return "\n".join(lines) + "\n"


def _yaml_field(key: str, value: object) -> str:
    """``key: value`` as YAML: collections in flow style (wrapped at 96 columns), text
    on one line; the separator quoted (``sep: ';'``, ``sep: "\\t"``)."""
    import yaml

    if key == "sep" and value in SEPARATORS:
        return 'sep: "\\t"\n' if value == "\t" else f"sep: '{value}'\n"

    collection = isinstance(value, list | dict)
    return yaml.safe_dump(
        {key: value},
        default_flow_style=None if collection else False,
        allow_unicode=True,
        sort_keys=False,
        width=96 if collection else 1_000_000,
    )


def _yaml_key(name: str) -> str:
    return _yaml_field(name, None).rsplit(":", 1)[0]


def _one_line(text: str, keep_indent: bool = False) -> str:
    text = str(text)
    indent = text[: len(text) - len(text.lstrip(" "))] if keep_indent else ""
    return indent + " ".join(text.split())

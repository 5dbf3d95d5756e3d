"""The saved form of a :class:`~bnpipe.features.Preprocessor` (logged with every
model as ``preprocessor.json``) and its format versions: what a saved dict must
hold to load.

Format 1 is the dict before blanks, dates and rare levels (no ``format`` key:
every field added since takes the default that keeps its behaviour); format 2
adds them. Models logged under either load; ``tests/fixtures/format1`` pins
format 1."""

from __future__ import annotations

from collections.abc import Iterable

from bnpipe.catalog import SCALINGS

FORMAT = 2  # of Preprocessor.to_dict(); 1 is the dict before blanks, dates and rare levels
# Format-2 keys added later, each optional: absent, the default keeps the old behaviour
# (a target trained on in its own units).
_FORMAT2_OPTIONAL = frozenset({"target_scaling", "target_mean", "target_scale"})
_FORMAT1_KEYS = frozenset(
    {
        "task",
        "features",
        "target",
        "rename",
        "categories",
        "classes",
        "scaling",
        "mean",
        "scale",
        "column_types",
    }
)


def saved(fields: dict) -> dict:
    """The saved form of a preprocessor's ``fields`` (its ``__dict__``): in this format."""
    return {"format": FORMAT, **fields}


def loadable(d: dict, names: Iterable[str]) -> dict:
    """The fields of a saved form, checked: format 1 (no ``format`` key) or 2, whose
    fields are ``names``. Unknown and missing keys, a format that is not a version or
    is newer than ``FORMAT``, and a bad ``target_scaling`` raise ``ValueError``."""
    d = dict(d)
    version = d.pop("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"preprocessor format {version!r} is not a format version")
    if version > FORMAT:
        raise ValueError(
            f"preprocessor format {version} is newer than this bnpipe understands "
            f"({FORMAT}); upgrade bnpipe"
        )
    known = _FORMAT1_KEYS if version == 1 else frozenset(names)
    required = {"task", "features", "target"} if version == 1 else known - _FORMAT2_OPTIONAL
    unknown, absent = sorted(set(d) - known), sorted(required - set(d))
    if unknown or absent:
        raise ValueError(
            f"preprocessor format {version}: "
            + "; ".join(
                ([f"unknown keys {unknown}"] if unknown else [])
                + ([f"missing keys {absent}"] if absent else [])
            )
        )
    if d.get("target_scaling", "none") not in SCALINGS:
        raise ValueError(
            f"preprocessor format {version}: target_scaling must be one of {SCALINGS}, "
            f"got {d['target_scaling']!r}"
        )
    if d.get("target_scaling") == "standard" and not {"target_mean", "target_scale"} <= set(d):
        raise ValueError(
            f"preprocessor format {version}: target_scaling 'standard' needs "
            "target_mean and target_scale"
        )
    return d

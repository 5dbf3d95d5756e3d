"""A sweep's grid: run parameters (:data:`GRID_NAMES`) and the values to try,
checked up front; its cells (every combination, in the grid's order); a sweep
file (``sweeps/*.yaml``); the heatmap's axes. Nothing here imports Prefect,
MLflow or TensorFlow."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bnpipe.params import ConfigError, RunConfig
from bnpipe.stats import multiplicity

GRID_NAMES = ("learning_rate", "batch_size", "optimizer", "input_scaling", "epochs")
_TYPES = {"learning_rate": float, "batch_size": int, "epochs": int}


class SweepError(ValueError):
    """A sweep that cannot run as given (a usage error): the message says why."""


@dataclass(frozen=True)
class Cell:
    """One combination of grid values, e.g. ``learning_rate=0.01, input_scaling=none``."""

    values: tuple[tuple[str, object], ...]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values)

    @property
    def slug(self) -> str:
        """A name for Dask keys and files: ``learning_rate-0.01_input_scaling-none``."""
        return "_".join(f"{k}-{v}" for k, v in self.values)

    def params(self) -> dict[str, object]:
        return dict(self.values)

    def config(self, base: RunConfig) -> RunConfig:
        """``base`` with this cell's values."""
        return RunConfig(**(base.model_dump() | self.params()))


def parse_grid(items: Sequence[str]) -> dict[str, list]:
    """``["learning_rate=0.001,0.01", "input_scaling=none,standard"]`` -> a grid.

    Each name must be a grid parameter and come once; values are typed and
    checked as run parameters (a bad one is a :class:`SweepError` naming it)."""
    grid: dict[str, list] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not raw.strip():
            raise SweepError(
                f"--grid {item!r}: expected NAME=V1,V2,... e.g. learning_rate=0.001,0.01"
            )
        values = [v.strip() for v in raw.split(",") if v.strip()]
        grid[_checked_name(name, grid)] = values
    return check_grid(grid)


def check_grid(grid: Mapping[str, Sequence[object]]) -> dict[str, list]:
    """A grid from a sweep file or the flow's parameter, typed and checked."""
    if not grid:
        raise SweepError(f"a sweep needs at least one grid axis ({', '.join(GRID_NAMES)})")
    out: dict[str, list] = {}
    for name, values in grid.items():
        _checked_name(name, out)
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise SweepError(f"grid {name}: give a list of values, got {values!r}")
        typed = [_typed(name, v) for v in values]
        if len(set(map(str, typed))) != len(typed):
            raise SweepError(f"grid {name}: a value comes twice in {list(values)!r}")
        out[name] = typed
    return out


def _checked_name(name: str, seen: Mapping[str, object]) -> str:
    if name not in GRID_NAMES:
        raise SweepError(f"grid: {name!r} is not a sweep parameter; use {', '.join(GRID_NAMES)}")
    if name in seen:
        raise SweepError(f"grid: {name} comes twice")
    return name


def _typed(name: str, value: object) -> object:
    kind = _TYPES.get(name, str)
    try:
        if kind is int:  # 16, "16", 16.0: yes; 16.5, True: no (never rounded)
            if isinstance(value, bool) or not float(value).is_integer():
                raise ValueError
            typed = int(float(value))
        else:
            typed = kind(value)
    except (TypeError, ValueError, OverflowError):
        what = "whole number" if kind is int else kind.__name__
        raise SweepError(f"grid {name}: {value!r} is not a {what}") from None
    try:
        RunConfig(**{name: typed})
    except ConfigError as exc:
        raise SweepError(f"grid {name}: {exc}") from None
    return typed


def cells(grid: Mapping[str, Sequence[object]]) -> list[Cell]:
    """Every combination of the grid's values, the first axis varying slowest."""
    names = list(grid)
    return [
        Cell(tuple(zip(names, combo, strict=True))) for combo in itertools.product(*grid.values())
    ]


@dataclass(frozen=True)
class SweepPlan:
    """A sweep as a file gives it (``sweeps/*.yaml``)."""

    datasets: list[str]
    grid: dict[str, list]
    seeds: int | None = None
    epochs: int | None = None
    correction: str = "holm"
    heatmap: tuple[str, str] | None = None


def check_heatmap(grid: Mapping[str, Sequence[object]], axes: Sequence[str] | None):
    """The heatmap's two axes: ``axes`` checked against the grid, or None (the
    report then takes the two axes with the most values)."""
    if not axes:
        return None
    axes = [a.strip() for a in axes]
    if len(axes) != 2 or axes[0] == axes[1]:
        raise SweepError(f"heatmap: name two different grid axes, e.g. X,Y; got {','.join(axes)}")
    missing = [a for a in axes if a not in grid]
    if missing:
        raise SweepError(
            f"heatmap: {', '.join(missing)} is not an axis of this grid ({', '.join(grid)})"
        )
    return (axes[0], axes[1])


def load_sweep_file(path: Path) -> SweepPlan:
    """``datasets: [...]``, ``grid: {name: [values]}``, optional ``seeds``, ``epochs``,
    ``correction`` (holm or bh)."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SweepError(f"{path}: cannot read the sweep file: {exc}") from None
    if not isinstance(doc, dict):
        raise SweepError(f"{path}: a sweep file is a mapping with datasets: and grid:")
    unknown = set(doc) - {
        "datasets", "grid", "seeds", "epochs", "correction", "heatmap", "description",
    }  # fmt: skip
    if unknown:
        raise SweepError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    datasets = doc.get("datasets")
    if (
        not isinstance(datasets, list)
        or not datasets
        or not all(isinstance(d, str) for d in datasets)
    ):
        raise SweepError(f"{path}: datasets: must be a list of catalog names")
    grid = doc.get("grid")
    if not isinstance(grid, dict):
        raise SweepError(f"{path}: grid: must map parameters to lists of values")
    correction = doc.get("correction", "holm")
    if correction not in multiplicity.CORRECTIONS:
        raise SweepError(f"{path}: correction must be holm or bh, got {correction!r}")
    grid = check_grid(grid)
    heatmap = doc.get("heatmap")
    if heatmap is not None and not (
        isinstance(heatmap, list) and all(isinstance(a, str) for a in heatmap)
    ):
        raise SweepError(f"{path}: heatmap: must be a list of two grid axes")
    try:
        heatmap = check_heatmap(grid, heatmap)
    except SweepError as exc:
        raise SweepError(f"{path}: {exc}") from None
    return SweepPlan(
        datasets=datasets,
        grid=grid,
        seeds=doc.get("seeds"),
        epochs=doc.get("epochs"),
        correction=correction,
        heatmap=heatmap,
    )

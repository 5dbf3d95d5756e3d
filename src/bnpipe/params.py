"""The run's parameters, defined once.

:class:`RunConfig` is the one typed model of what a comparison run can be told:
the ``bn-comparison`` flow takes it as its ``config`` parameter (Prefect renders
its fields, with their descriptions, as the deployment form), ``bnpipe run``
makes one command-line option per field from it (:func:`cli_options`), and the
training engine reads the same object. Adding a parameter is adding a field.

Parameters a dataset can default (``input_scaling``, ``target_scaling``,
``learning_rate``) have no value of their own: ``None`` is "the dataset's
default" (``datasets.yaml`` ``defaults:``), filled in by :meth:`RunConfig.resolve`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if TYPE_CHECKING:
    from bnpipe.catalog import DatasetSpec

KERAS_OPTIMIZERS: tuple[str, ...] = (
    "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "ftrl", "lion", "muon",
    "nadam", "rmsprop", "schedulefreeadamw", "sgd",
)  # fmt: skip
"""The optimizers Keras 3 builds from their name alone (any letter case), checked
before anything starts; a unit test holds the list to the installed Keras."""
MAX_EPOCHS = 100_000
"""Each seed logs two curves of one value per epoch (MLflow metric rows) and the
compiled loop keeps them in memory: 100 times the notebook's 1000 epochs is the
most a run takes."""

Engine = Literal["compiled", "fit"]  # the training engines (bnpipe.engine), defined here only
ENGINES: tuple[str, ...] = typing.get_args(Engine)
Scaling = Literal["none", "standard"]
DATASET_DEFAULT = "unset: the dataset's default (datasets.yaml defaults:), else"


class ConfigError(ValueError):
    """A run parameter out of range (a usage error); the message names the parameter."""


class RunConfig(BaseModel):
    """The parameters of one comparison run (named as the MLflow params in docs/results.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(
        1000, gt=0, le=MAX_EPOCHS, strict=True, description="training epochs per seed"
    )
    seeds: int = Field(5, gt=0, strict=True, description="seeds per variant (seeds 0..K-1)")
    batch_size: int = Field(32, gt=0, strict=True, description="mini-batch size")
    optimizer: str = Field(
        "rmsprop", min_length=1, description=f"a Keras optimizer: {', '.join(KERAS_OPTIMIZERS)}"
    )
    learning_rate: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        strict=True,
        description=f"{DATASET_DEFAULT} the optimizer's Keras default",
    )
    input_scaling: Scaling | None = Field(
        None, description=f"standardize the inputs; {DATASET_DEFAULT} none"
    )
    target_scaling: Scaling | None = Field(
        None,
        description="standardize a regression target for training (metrics and predictions "
        f"stay in its units); {DATASET_DEFAULT} none",
    )
    split_seed: int = Field(42, strict=True, description="seed of the train/validation/test split")
    engine: Engine = Field(
        "compiled", description="compiled (one XLA loop for all seeds) or Keras fit"
    )

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        if name.lower() not in KERAS_OPTIMIZERS:
            raise ValueError(f"be one of Keras's optimizers: {', '.join(KERAS_OPTIMIZERS)}")
        return name

    def __init__(self, **values: object):
        # Built in code (CLI, tests, bench): a ConfigError naming the parameter.
        # Prefect validates a deployment's parameters itself (model_validate).
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(describe_error(exc)) from None

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds))

    def resolve(self, spec: DatasetSpec) -> RunConfig:
        """This config for one dataset: each parameter left None takes the dataset's
        default (``spec.defaults``), else the notebook's (raw inputs, raw target, the
        optimizer's Keras learning rate: ``learning_rate`` stays None). A value given
        wins. A classification target is never scaled (``target_scaling`` "none").
        Resolving a resolved config changes nothing."""
        defaults = spec.defaults

        def pick(name: str, notebook: object) -> object:
            given = getattr(self, name)
            return given if given is not None else defaults.get(name, notebook)

        return RunConfig(
            **(
                self.model_dump()
                | {
                    "input_scaling": pick("input_scaling", "none"),
                    "target_scaling": (
                        pick("target_scaling", "none") if spec.task == "regression" else "none"
                    ),
                    "learning_rate": pick("learning_rate", None),
                }
            )
        )

    def parent_params(self) -> dict[str, object]:
        """The parent run's MLflow params (``learning_rate`` joins them once the
        training job reports the optimizer's effective value)."""
        return {
            **self._shared_params(),
            "split_seed": self.split_seed,
            "seeds": self.seeds,
            "engine": self.engine,
        }

    def seed_params(self, learning_rate: float, data_sha256: str) -> dict[str, object]:
        """The params every (variant, seed) child run shares."""
        return {
            **self._shared_params(),
            "learning_rate": learning_rate,
            "engine": self.engine,
            "split_seed": self.split_seed,
            "data_sha256": data_sha256,
        }

    def _shared_params(self) -> dict[str, object]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "input_scaling": self.input_scaling,
            "target_scaling": self.target_scaling,
        }

    def training_key(self) -> tuple:
        """What a compiled training loop depends on (the engine caches loops by it)."""
        return (self.epochs, self.batch_size, self.optimizer, self.learning_rate, self.engine)


def describe_error(exc: ValidationError) -> str:
    """The first error as one line, e.g. ``epochs must be a positive whole number, got 0``."""
    first = exc.errors()[0]
    name = ".".join(str(p) for p in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"unknown parameter {name!r}; expected one of {', '.join(RunConfig.model_fields)}"
    info = RunConfig.model_fields.get(name)
    rule = _rule(info) if info is not None else None
    msg = first["msg"]
    if first["type"] == "value_error":  # a validator's own rule ("be one of ...")
        rule = msg.removeprefix("Value error, ")
    if rule is None and msg.startswith("Input should "):
        rule = msg.removeprefix("Input should ")  # "be a valid string"
    if rule is None:
        return f"{name}: {msg}, got {first['input']!r}"
    return f"{name} must {rule}, got {first['input']!r}"


def _rule(info) -> str | None:
    """What a field accepts, in words, from its type and bounds."""
    positive = any(getattr(m, "gt", None) == 0 for m in info.metadata)
    most = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    kind, choices = _scalar(info.annotation)
    if choices:
        return "be " + " or ".join(repr(c) for c in choices)
    if kind is int and positive and most is not None:
        return f"be a whole number from 1 to {most}"
    if kind is int:
        return "be a positive whole number" if positive else "be a whole number"
    if kind is float:
        return "be a positive number" if positive else "be a number"
    return None


# ---------------------------------------------------------------------- the command line


@dataclass(frozen=True)
class Option:
    """One ``bnpipe run`` option, derived from a field of :class:`RunConfig`."""

    field: str
    flag: str  # --batch-size
    type: type
    choices: tuple[str, ...] | None
    default: object
    help: str


def cli_options() -> list[Option]:
    """A command-line option per field: its type, choices, default and help."""
    out = []
    for name, info in RunConfig.model_fields.items():
        kind, choices = _scalar(info.annotation)
        default = info.default
        shown = "" if default is None else f" (default {default})"
        out.append(
            Option(
                field=name,
                flag="--" + name.replace("_", "-"),
                type=kind,
                choices=choices,
                default=default,
                help=(info.description or "") + shown,
            )
        )
    return out


def _scalar(annotation) -> tuple[type, tuple[str, ...] | None]:
    """``int``, ``float``, ``str`` or a ``Literal`` of strings, optionally ``| None``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in args if a is not type(None)]
        args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        return str, tuple(args)
    if annotation in (int, float, str):
        return annotation, None
    raise TypeError(f"RunConfig field type {annotation!r} has no command-line form")

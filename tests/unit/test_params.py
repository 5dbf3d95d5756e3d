"""bnpipe.params: the run's parameters, defined once, and the CLI made from them."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from bnpipe.params import KERAS_OPTIMIZERS, MAX_EPOCHS, ConfigError, RunConfig, cli_options


def test_every_field_is_a_run_option_with_its_default_and_help():
    from bnpipe.ops.cli import build_parser

    options = {o.field: o for o in cli_options()}
    assert list(options) == list(RunConfig.model_fields)
    assert options["batch_size"].flag == "--batch-size"
    assert options["engine"].choices == ("compiled", "fit")
    assert options["input_scaling"].choices == ("none", "standard")
    assert options["learning_rate"].type is float and options["learning_rate"].default is None
    assert options["epochs"].help.endswith("(default 1000)")

    parser = build_parser()
    defaults = parser.parse_args(["run", "iris"])
    assert RunConfig(**{f: getattr(defaults, f) for f in options}) == RunConfig()
    given = parser.parse_args(
        ["run", "iris", "--epochs", "7", "--batch-size", "4", "--learning-rate", "0.01",
         "--input-scaling", "standard", "--engine", "fit", "--split-seed", "3"]
    )  # fmt: skip
    config = RunConfig(**{f: getattr(given, f) for f in options})
    assert (config.epochs, config.batch_size, config.learning_rate) == (7, 4, 0.01)
    assert (config.input_scaling, config.engine, config.split_seed) == ("standard", "fit", 3)


def test_unknown_parameters_are_refused_by_name():
    with pytest.raises(ConfigError, match="^unknown parameter 'epoch'; expected one of epochs"):
        RunConfig(epoch=3)


def test_the_model_validates_a_deployments_json_the_same_way():
    # Prefect hands a deployment's parameters over as JSON values (model_validate)
    assert RunConfig.model_validate({"epochs": 300, "seeds": 3}) == RunConfig(epochs=300, seeds=3)
    assert RunConfig.model_validate({"learning_rate": 1}).learning_rate == 1.0
    with pytest.raises(ValueError, match="epochs"):
        RunConfig.model_validate({"epochs": 0})


def test_a_config_is_immutable_hashable_and_travels_to_workers():
    config = RunConfig(epochs=5, learning_rate=0.1)
    with pytest.raises(ValueError, match="frozen"):
        config.epochs = 6
    assert pickle.loads(pickle.dumps(config)) == config
    assert len({config, RunConfig(epochs=5, learning_rate=0.1)}) == 1


def test_compiled_loops_are_shared_across_what_does_not_change_training():
    base = RunConfig(epochs=5)
    same_loop = [RunConfig(epochs=5, seeds=2), RunConfig(epochs=5, split_seed=1)]
    assert {c.training_key() for c in same_loop} == {base.training_key()}
    for other in (RunConfig(epochs=6), RunConfig(epochs=5, batch_size=8),
                  RunConfig(epochs=5, learning_rate=0.1), RunConfig(epochs=5, optimizer="adam")):  # fmt: skip
        assert other.training_key() != base.training_key()


def test_the_runs_params_are_the_contracts():
    from tests.contract import CHILD_PARAMS

    config = RunConfig(epochs=3, seeds=2, optimizer="adam")
    parent = config.parent_params()
    assert parent["epochs"] == 3 and parent["seeds"] == 2 and parent["optimizer"] == "adam"
    assert "learning_rate" not in parent  # the training job reports the effective value
    child = config.seed_params(0.001, "ab" * 32)
    assert CHILD_PARAMS - {"variant", "seed"} <= set(child)
    assert child["learning_rate"] == 0.001 and child["data_sha256"] == "ab" * 32


def test_an_optimizer_keras_does_not_know_is_refused_naming_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"optimizer must be one of Keras's optimizers: .*, got 'rmsprob'"
    ):
        RunConfig(optimizer="rmsprob")
    assert RunConfig(optimizer="RMSprop").optimizer == "RMSprop"  # Keras takes any letter case


def test_epochs_have_a_stated_upper_bound():
    assert RunConfig(epochs=MAX_EPOCHS).epochs == MAX_EPOCHS
    with pytest.raises(ConfigError, match=f"from 1 to {MAX_EPOCHS}, got {MAX_EPOCHS + 1}"):
        RunConfig(epochs=MAX_EPOCHS + 1)
    with pytest.raises(ValidationError):  # a deployment's parameters, as Prefect validates them
        RunConfig.model_validate({"epochs": MAX_EPOCHS + 1})


@pytest.mark.slow
def test_the_optimizer_list_is_what_keras_builds_by_name():
    """The list is checked in the CLI without importing TensorFlow; it must stay the
    installed Keras's: every name Keras knows that builds from its name alone."""
    import keras
    from keras.src.optimizers import ALL_OBJECTS_DICT

    buildable = set()
    for name in ALL_OBJECTS_DICT:
        try:
            keras.optimizers.get(name)
        except Exception:  # noqa: BLE001 - a wrapper that needs an inner optimizer
            continue
        buildable.add(name.lower())
    assert set(KERAS_OPTIMIZERS) == buildable

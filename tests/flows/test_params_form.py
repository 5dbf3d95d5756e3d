"""The flow's training parameters are one typed model: what Prefect renders as the
deployment form and validates a deployment run's parameters against."""

from __future__ import annotations

import pytest

from bnpipe.params import RunConfig


def test_the_deployment_form_is_the_run_config_model():
    from prefect.utilities.callables import parameter_schema

    from bnpipe.flows.bn_comparison import bn_comparison

    schema = parameter_schema(bn_comparison.fn).model_dump_for_openapi()
    assert list(schema["properties"]) == [
        "datasets", "config", "register_model", "offline", "fallback", "force",
    ]  # fmt: skip
    form = schema["definitions"]["RunConfig"]
    assert list(form["properties"]) == list(RunConfig.model_fields)
    assert form["additionalProperties"] is False
    assert form["properties"]["epochs"]["default"] == 1000
    assert form["properties"]["epochs"]["exclusiveMinimum"] == 0
    for name in ("input_scaling", "target_scaling", "learning_rate"):
        field = form["properties"][name]
        assert field["default"] is None  # no value of its own: the dataset's default
        assert "the dataset's default" in field["description"]
    engine = form["properties"]["engine"]
    assert engine["enum"] == ["compiled", "fit"]
    # every field of the form says what it is for
    for name, field in [*schema["properties"].items(), *form["properties"].items()]:
        assert len(field.get("description", "")) >= 10, name


def test_a_deployment_runs_parameters_are_validated_into_the_model():
    from prefect.exceptions import ParameterTypeError

    from bnpipe.flows.bn_comparison import bn_comparison

    # `prefect deployment run ... -p config='{"epochs": 300, "seeds": 3}'`
    given = bn_comparison.validate_parameters({"config": {"epochs": 300, "seeds": 3}})
    assert given["config"] == RunConfig(epochs=300, seeds=3)
    for bad in ({"epochs": 0}, {"epochs": 300, "epoch": 3}, {"input_scaling": "log"}):
        with pytest.raises(ParameterTypeError):
            bn_comparison.validate_parameters({"config": bad})


def test_the_sweep_deployment_parameters_are_valid_for_the_sweep_flow():
    from pathlib import Path

    import yaml

    from bnpipe import sweep
    from bnpipe.flows.bn_sweep import bn_sweep

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "prefect.yaml").read_text())
    [dep] = [d for d in spec["deployments"] if d["name"] == "when-bn-helps"]
    assert dep["entrypoint"] == "flows/bn_sweep.py:bn_sweep"
    given = bn_sweep.validate_parameters(dep["parameters"])
    assert given["config"] == RunConfig(seeds=10, epochs=1000)
    assert len(sweep.cells(sweep.check_grid(given["grid"]))) == 16
    # the same sweep as the checked-in sweep file
    plan = sweep.load_sweep_file(
        Path(__file__).resolve().parents[2] / "sweeps" / "when-bn-helps.yaml"
    )
    assert plan.grid == sweep.check_grid(given["grid"]) and plan.datasets == given["datasets"]

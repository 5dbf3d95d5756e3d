"""One Prefect test harness and one local Dask cluster for every flow test in the
session (each flow run connects to it by address, as under ``bnpipe run``), and a
throwaway MLflow store."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")  # stopped after the flow tests: nothing leaks into the next folder
def env(tmp_path_factory, data_mirror):
    from prefect.testing.utilities import prefect_test_harness

    from bnpipe.ops.cluster import TrainingCluster

    tmp = tmp_path_factory.mktemp("flow")
    mp = pytest.MonkeyPatch()
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("BNPIPE_STATE_DIR", str(tmp / "state"))
    mp.setenv("BNPIPE_DATA_MIRROR", str(data_mirror))
    with (
        prefect_test_harness(server_startup_timeout=90),
        TrainingCluster() as dask,
        dask.exported(),
    ):
        yield {"uri": uri, "tmp": tmp, "mirror": data_mirror}
    mp.undo()

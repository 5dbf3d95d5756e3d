"""``bnpipe dataset init`` stopped by a real signal leaves nothing behind: the
catalog and the expectations folder byte for byte as they were."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.faults.conftest import bnpipe, make_project

pytestmark = pytest.mark.slow  # a bnpipe process importing pandas and GX

COLUMNS = 1000  # wide enough that checking the drafted suite takes seconds


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        rng.normal(size=(100, COLUMNS)).round(4), columns=[f"c{i}" for i in range(COLUMNS)]
    )
    df["y"] = rng.normal(size=len(df)).round(3)
    path = tmp_path_factory.mktemp("wide") / "wide.csv"
    df.to_csv(path, index=False)
    return path


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_an_interrupted_init_leaves_the_catalog_and_suites_as_they_were(tmp_path, wide_csv, sig):
    project = tmp_path / "project"
    env = make_project(project, None)
    before = files_under(project)
    assert "datasets.yaml" in before and "expectations/iris.json" in before
    suite = project / "expectations" / "wide.json"
    argv = ["dataset", "init", "wide", "--url", str(wide_csv), "--target", "y"]
    proc = bnpipe("init", argv, env, tmp_path / "logs")
    try:
        deadline = time.monotonic() + 300
        # under way: it says it is checking its draft (or, without that line, the
        # suite is on disk already)
        while proc.poll() is None and time.monotonic() < deadline:
            if "wide: checking " in proc.err or suite.exists():
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"init ended before the signal\n{proc.summary()}"
        proc.popen.send_signal(sig)
        rc = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.stop()
    assert rc == 128 + sig, proc.summary()
    assert files_under(project) == before, proc.summary()  # no suite, entry, temporary file
    name = signal.Signals(sig).name
    err = proc.err.splitlines()
    assert f"bnpipe: {name} received: stopping" in err, proc.summary()
    said = "interrupted" if sig == signal.SIGINT else f"terminated by signal {int(sig)}"
    assert (
        f"bnpipe: {said}; nothing written (datasets.yaml and expectations/ as they were)" in err
    ), proc.summary()
    assert "Traceback" not in proc.err, proc.summary()

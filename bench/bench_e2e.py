"""End to end, as a user runs it, against the notebook's training of the same four models.

One command, both measured in this run, side by side:

1. the notebook: ``model.fit`` on numpy for plain and bn on boston and iris,
   1000 epochs each, in this process (TensorFlow already imported: the
   notebook's import time is not counted against it);
2. ``bnpipe run boston iris --epochs 1000 --seeds 1`` as a fresh process:
   imports, Prefect's ephemeral server, download, GX validation, training,
   MLflow logging of 4 child runs with models, registry and report included;
   twice: a first run on an empty state folder and a next one on the warm
   state (Prefect's database, the persistent XLA cache).

    .venv/bin/python bench/bench_e2e.py [--epochs 1000]

The pipeline run uses a throwaway state folder, catalog store and MLflow
database, and the data mirror from BNPIPE_DATA_MIRROR (default ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_training as bt  # noqa: E402 - the sibling benchmark's notebook rows

REPO = Path(__file__).resolve().parents[1]


def pipeline_seconds(epochs: int, mirror: Path, state: Path) -> tuple[float, str]:
    """One ``bnpipe run`` with its own MLflow store; ``state`` (Prefect home,
    download cache, XLA cache) is shared between calls: cold the first time,
    warm the next, as for a user's first and later runs."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "BNPIPE_DATA_MIRROR": str(mirror),
            "BNPIPE_STATE_DIR": str(state),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
            "PREFECT_HOME": str(state / "prefect"),
            "PREFECT_API_URL": "",
        }
        cmd = [
            str(REPO / ".venv" / "bin" / "bnpipe"),
            "run",
            "boston",
            "iris",
            "--epochs",
            str(epochs),
            "--seeds",
            "1",
        ]
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"bnpipe run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return seconds, proc.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=1000)
    args = p.parse_args(argv)
    mirror = Path(os.environ.get("BNPIPE_DATA_MIRROR") or REPO.parent / "shared" / "data").resolve()
    print(bt.machine(), flush=True)

    with tempfile.TemporaryDirectory() as state:
        cold, _ = pipeline_seconds(args.epochs, mirror, Path(state))
        print(f"bnpipe run, first run (empty Prefect home and XLA cache): {cold:.1f} s", flush=True)
        pipe, _ = pipeline_seconds(args.epochs, mirror, Path(state))
        print(f"bnpipe run, next run (warm state, new MLflow store): {pipe:.1f} s", flush=True)

    data = bt.load_data(mirror)
    notebook = bt.fit_method("notebook fit (numpy)", bt._fit_numpy, data, args.epochs)
    nb = sum(notebook.wall.values())
    print()
    print(f"{'what':<58} {'seconds':>9} {'x faster':>9}")
    print(f"{'notebook: fit of the four models (training only)':<58} {nb:>9.1f} {1.0:>9.1f}")
    print(
        f"{'bnpipe run boston iris --seeds 1, first run (end to end)':<58} {cold:>9.1f} {nb / cold:>9.1f}"
    )
    print(
        f"{'bnpipe run boston iris --seeds 1, next runs (end to end)':<58} {pipe:>9.1f} {nb / pipe:>9.1f}"
    )
    print(
        f"target: end to end >= 5x faster than the notebook's training: {nb / pipe:.1f}x -> {'MET' if nb / pipe >= 5 else 'NOT MET'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

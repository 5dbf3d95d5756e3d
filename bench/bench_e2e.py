"""End to end, as a user runs it, against the notebook's training of the same four models.

One command, both measured in this run, side by side:

1. the notebook: ``model.fit`` on numpy for plain and bn on boston and iris,
   1000 epochs each, in this process (TensorFlow already imported: the
   notebook's import time is not counted against it);
2. ``bnpipe run boston iris --epochs 1000 --seeds 1`` as a fresh process:
   imports, the temporary Prefect server, the trainer process, download, GX
   validation, training, MLflow logging of 4 child runs with models, registry
   (champion scoring included from the second run on) and report included.
   A first run on an empty state folder and MLflow store, then ``--repeat``
   next runs on the same state and store, as a user's next ``make run``
   (Prefect's database, the persistent XLA cache and the champion exist).

    .venv/bin/python bench/bench_e2e.py [--epochs 1000] [--repeat 3]

The pipeline runs use a throwaway state folder and MLflow database, and the
data mirror from BNPIPE_DATA_MIRROR (default ../shared/data). The machine is
shared and noisy: the next runs are reported as median and range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_training as bt  # noqa: E402 - the sibling benchmark's notebook rows

REPO = Path(__file__).resolve().parents[1]


def pipeline_seconds(epochs: int, mirror: Path, state: Path) -> tuple[float, str]:
    """One ``bnpipe run``; ``state`` holds the Prefect home, download cache, XLA
    cache and the MLflow store, shared between calls: cold the first time, warm
    the next, as for a user's first and later runs."""
    env = {
        **os.environ,
        "BNPIPE_DATA_MIRROR": str(mirror),
        "BNPIPE_STATE_DIR": str(state),
        "MLFLOW_TRACKING_URI": f"sqlite:///{state}/mlflow.db",
        "PREFECT_HOME": str(state / "prefect"),
        "PREFECT_API_URL": "",  # no configured API: bnpipe starts a temporary server
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
    p.add_argument("--repeat", type=int, default=3, help="next runs to time (default 3)")
    args = p.parse_args(argv)
    mirror = Path(os.environ.get("BNPIPE_DATA_MIRROR") or REPO.parent / "shared" / "data").resolve()
    print(bt.machine(), flush=True)

    with tempfile.TemporaryDirectory() as state:
        cold, _ = pipeline_seconds(args.epochs, mirror, Path(state))
        print(f"bnpipe run, first run (empty state and MLflow store): {cold:.1f} s", flush=True)
        warm = []
        for i in range(args.repeat):
            seconds, _ = pipeline_seconds(args.epochs, mirror, Path(state))
            warm.append(seconds)
            print(f"bnpipe run, next run {i + 1}/{args.repeat}: {seconds:.1f} s", flush=True)
    pipe = statistics.median(warm)

    data = bt.load_data(mirror)
    notebook = bt.fit_method("notebook fit (numpy)", bt._fit_numpy, data, args.epochs)
    nb = sum(notebook.wall.values())
    w = 62
    print()
    print(f"{'what':<{w}} {'seconds':>9} {'x faster':>9}")
    print(f"{'notebook: fit of the four models (training only)':<{w}} {nb:>9.1f} {1.0:>9.1f}")
    print(
        f"{'bnpipe run boston iris --seeds 1, first run (end to end)':<{w}} {cold:>9.1f} {nb / cold:>9.1f}"
    )
    label = f"bnpipe run ..., next runs (end to end), median of {len(warm)}"
    print(f"{label:<{w}} {pipe:>9.1f} {nb / pipe:>9.1f}")
    label = "  next runs: fastest .. slowest"
    print(
        f"{label:<{w}} {min(warm):>4.1f}..{max(warm):<4.1f} {nb / max(warm):>4.1f}..{nb / min(warm):<4.1f}"
    )
    for target in (5, 10):
        verdict = "MET" if nb / pipe >= target else "NOT MET"
        print(
            f"target: end to end >= {target}x faster than the notebook's training: {nb / pipe:.1f}x -> {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

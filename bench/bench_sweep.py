"""A sweep as a user runs it, against the notebook's ``fit`` per model, in one run.

1. the notebook: ``model.fit`` on numpy for plain and bn on boston and iris
   (1000 epochs each), in this process: its seconds per model;
2. ``bnpipe sweep --file sweeps/when-bn-helps.yaml`` (16 cells x 2 variants x
   10 seeds on boston and iris: 640 models) as a fresh process on a local Dask
   cluster of 1 worker, then of 2 workers, each on an empty state folder and
   MLflow store (SQLite: one writer), sharing one XLA cache that an untimed
   ``--seeds 1`` sweep of the same grid fills first (so both start from the
   same compiled loops). Reported: end-to-end seconds, training seconds (the
   flow's own figure, every dataset at once) and logging seconds apart (the
   seed runs with curves and test metrics, a model per cell and variant),
   models per second, the speed-up of 2 workers over 1 on training time, and
   the notebook's time for the same 640 fits.

    .venv/bin/python bench/bench_sweep.py [--file sweeps/when-bn-helps.yaml] [--seeds 10]
        [--epochs 1000] [--workers 1,2]

Targets (issue): 640 models under 15 minutes on 2 cores; 2 workers train at
least 1.6x faster than 1. The machine is shared and noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_training as bt  # noqa: E402 - the sibling benchmark's notebook rows

REPO = Path(__file__).resolve().parents[1]
TIMES = re.compile(
    r"training ([0-9.]+) s \(every dataset at once\); logging (\d+) seed runs ([0-9.]+) s"
)


def sweep_seconds(
    file: Path, seeds: int, epochs: int, mirror: Path, state: Path, extra: dict
) -> tuple[float, float, int, float]:
    """One ``bnpipe sweep``: (end to end, training, seed runs, logging) seconds."""
    env = {
        **os.environ,
        "BNPIPE_DATA_MIRROR": str(mirror),
        "BNPIPE_STATE_DIR": str(state),
        "MLFLOW_TRACKING_URI": f"sqlite:///{state}/mlflow.db",
        "PREFECT_HOME": str(state / "prefect"),
        "PREFECT_API_URL": "",
        **extra,
    }
    cmd = [
        str(REPO / ".venv" / "bin" / "bnpipe"), "sweep", "--file", str(file),
        "--seeds", str(seeds), "--epochs", str(epochs),
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"bnpipe sweep failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    found = TIMES.findall(proc.stdout)
    if not found:
        sys.exit(f"no timing line in the sweep's output:\n{proc.stdout[-3000:]}")
    training = float(found[0][0])  # the same figure for every dataset
    runs = sum(int(n) for _, n, _ in found)
    logging = sum(float(s) for _, _, s in found)
    return seconds, training, runs, logging


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", type=Path, default=REPO / "sweeps" / "when-bn-helps.yaml")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--workers", default="1,2", help="local cluster sizes to compare")
    args = p.parse_args(argv)
    mirror = Path(os.environ.get("BNPIPE_DATA_MIRROR") or REPO.parent / "shared" / "data").resolve()
    from bnpipe import sweep

    plan = sweep.load_sweep_file(args.file)
    models = len(plan.datasets) * len(sweep.cells(plan.grid)) * 2 * args.seeds
    print(bt.machine(), flush=True)
    print(
        f"sweep {args.file.name}: {models} models, {args.epochs} epochs, MLflow on SQLite",
        flush=True,
    )

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        xla = {"BNPIPE_XLA_CACHE_DIR": str(Path(tmp) / "xla-cache")}
        t = time.perf_counter()
        sweep_seconds(args.file, 1, args.epochs, mirror, Path(tmp) / "warm-up", xla)
        print(
            f"warm-up (--seeds 1, fills the XLA cache): {time.perf_counter() - t:.1f} s", flush=True
        )
        for n in [int(x) for x in args.workers.split(",")]:
            state = Path(tmp) / f"workers-{n}"
            total, train, runs, log = sweep_seconds(
                args.file, args.seeds, args.epochs, mirror, state,
                {**xla, "BNPIPE_DASK_WORKERS": str(n)},
            )  # fmt: skip
            rows.append((n, total, train, runs, log))
            print(
                f"{n} worker(s): end to end {total:.1f} s, training {train:.1f} s, "
                f"logging {runs} seed runs {log:.1f} s",
                flush=True,
            )

    data = bt.load_data(mirror)
    notebook = bt.fit_method("notebook fit (numpy)", bt._fit_numpy, data, args.epochs)
    per_model = sum(notebook.wall.values()) / len(notebook.wall)
    print()
    print(f"notebook fit: {per_model:.1f} s per model ({len(notebook.wall)} fits), "
          f"{models} models would take {per_model * models / 60:.0f} min")  # fmt: skip
    w = 22
    print(
        f"{'local cluster':<{w}} {'end to end s':>12} {'training s':>10} {'models/s':>9} "
        f"{'speed-up':>9} {'logging s':>10} {'s per run':>9} {'x notebook':>10}"
    )
    base = rows[0][2]
    for n, total, train, runs, log in rows:
        print(
            f"{f'{n} worker(s)':<{w}} {total:>12.1f} {train:>10.1f} {models / train:>9.2f} "
            f"{base / train:>9.2f} {log:>10.1f} {log / max(runs, 1):>9.3f} "
            f"{per_model * models / total:>10.1f}"
        )
    best = min(total for _, total, *_ in rows)
    verdict = "MET" if best < 15 * 60 else "NOT MET"
    print(f"target: {models} models under 15 min on 2 cores: {best / 60:.1f} min -> {verdict}")
    if len(rows) > 1:
        speedup = rows[0][2] / rows[1][2]
        verdict = "MET" if speedup >= 1.6 else "NOT MET"
        print(f"target: training speed-up 1 -> 2 workers >= 1.6x: {speedup:.2f}x -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

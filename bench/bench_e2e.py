"""End to end, as a user runs it, against the notebook's training of the same four models.

One command, both measured in this run, side by side:

1. the notebook: ``model.fit`` on numpy for plain and bn on boston and iris,
   1000 epochs each, in this process (TensorFlow already imported: the
   notebook's import time is not counted against it);
2. ``bnpipe run boston iris --epochs 1000 --seeds 1`` as a fresh process:
   imports, the temporary Prefect server, the local Dask cluster, download, GX
   validation, training, MLflow logging of 4 child runs with models, registry
   (champion scoring included from the second run on) and report included.
   A first run on an empty state folder and MLflow store, then ``--repeat``
   next runs on the same state and store, as a user's next ``make run``
   (Prefect's database, the persistent XLA cache and the champion exist).

3. scaling: 40 models (``--seeds 10`` on boston and iris, 2 variants each,
   1000 epochs) on a local cluster of 1 worker, of 2 workers, and on an
   external ``dask scheduler`` with two ``dask worker`` processes (2 threads
   each), all on 127.0.0.1: training seconds (the flow's "trained in" line:
   from the first job's submission to the last result), models per second and
   speed-up over one worker, with the end-to-end seconds (logging 40 child
   runs with curves and models included) beside them. One untimed run first
   fills the shared XLA cache, so every configuration starts from the same.

    .venv/bin/python bench/bench_e2e.py [--epochs 1000] [--repeat 3] [--no-scaling]

The pipeline runs use a throwaway state folder and MLflow database, and the
data mirror from BNPIPE_DATA_MIRROR (default ../shared/data). The machine is
shared and noisy: the next runs are reported as median and range.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_training as bt  # noqa: E402 - the sibling benchmark's notebook rows

REPO = Path(__file__).resolve().parents[1]


def pipeline_seconds(
    epochs: int,
    mirror: Path,
    state: Path,
    seeds: int = 1,
    extra: dict | None = None,
    argv: tuple[str, ...] = (),
) -> tuple[float, str]:
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
        **(extra or {}),
    }
    cmd = [
        str(REPO / ".venv" / "bin" / "bnpipe"),
        "run",
        "boston",
        "iris",
        "--epochs",
        str(epochs),
        "--seeds",
        str(seeds),
        *argv,
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"bnpipe run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout + proc.stderr


TRAINED = re.compile(r"variants trained in ([0-9.]+) s on")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def external_cluster(workers: int, threads: int, log_dir: Path):
    """``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1."""
    dask = str(REPO / ".venv" / "bin" / "dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    procs = []
    try:
        for i in range(workers + 1):
            argv = (
                [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                 "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
                if i == 0
                else [dask, "worker", address, "--nthreads", str(threads), "--no-dashboard",
                      "--host", "127.0.0.1", "--local-directory", str(log_dir / f"w{i}")]
            )  # fmt: skip
            with open(log_dir / f"dask-{i}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
                )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def scaling(epochs: int, mirror: Path, tmp: Path) -> None:
    """40 models on 1 and 2 local workers and on an external 2-worker cluster."""
    seeds, models = 10, 2 * 2 * 10
    xla = {"BNPIPE_XLA_CACHE_DIR": str(tmp / "xla-cache")}  # shared, filled first
    pipeline_seconds(epochs, mirror, tmp / "warm-up", seeds, {**xla, "BNPIPE_DASK_WORKERS": "1"})
    rows = []

    def measure(label: str, extra: dict, argv: tuple[str, ...] = ()) -> None:
        state = tmp / label.replace(" ", "-")
        seconds, out = pipeline_seconds(epochs, mirror, state, seeds, {**xla, **extra}, argv)
        found = TRAINED.search(out)
        if found is None:
            sys.exit(f"no 'trained in' line in the output of the {label} run:\n{out[-3000:]}")
        rows.append((label, float(found.group(1)), seconds))
        print(f"{label}: training {rows[-1][1]:.1f} s, end to end {seconds:.1f} s", flush=True)

    measure("local, 1 worker", {"BNPIPE_DASK_WORKERS": "1"})
    measure("local, 2 workers", {"BNPIPE_DASK_WORKERS": "2"})
    with external_cluster(2, 2, tmp) as address:
        measure("external scheduler, 2 workers", {}, ("--dask-address", address))
    base = rows[0][1]
    w = 34
    print()
    print(
        f"{models} models ({seeds} seeds x 2 variants x boston, iris; {epochs} epochs, 2 threads per worker)"
    )
    print(f"{'where':<{w}} {'train s':>8} {'models/s':>9} {'speed-up':>9} {'end to end s':>13}")
    for label, train, total in rows:
        print(
            f"{label:<{w}} {train:>8.1f} {models / train:>9.2f} {base / train:>9.2f} {total:>13.1f}"
        )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3, help="next runs to time (default 3)")
    p.add_argument("--no-scaling", action="store_true", help="skip the 40-model scaling figure")
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
    for what, seconds, target in (("next run", pipe, 8.0), ("first run", cold, 5.5)):
        verdict = "MET" if nb / seconds >= target else "NOT MET"
        print(
            f"target: {what} >= {target:g}x faster than the notebook's training: "
            f"{nb / seconds:.1f}x -> {verdict}"
        )
    if not args.no_scaling:
        print()
        with tempfile.TemporaryDirectory() as tmp:
            scaling(args.epochs, mirror, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

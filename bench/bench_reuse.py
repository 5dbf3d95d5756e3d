"""What skipping unchanged work saves, and what the watch costs per check.

In one process, side by side, on the real boston and iris CSVs served by a
loopback HTTP server that honours conditional requests:

1. a full ``bn-comparison`` of both datasets (``force=True``: trains, logs,
   registers) against the same flow on unchanged data (downloads with a 304,
   finds the earlier run by its ``comparison_key``, prints its result); both with
   the Prefect test harness and the local Dask cluster already up, after one
   untimed run that fills the XLA cache and makes the first champions;
2. the watch: ``bn-watch`` on both datasets (a Prefect flow run with a task per
   dataset), and ``bnpipe.watch.check`` alone, per dataset (the conditional
   request and the hash).

    .venv/bin/python bench/bench_reuse.py [--epochs 200] [--seeds 3] [--repeat 3]

The machine is shared and noisy: medians and ranges, and the ratio of medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.httpfiles import ConditionalFiles  # noqa: E402 - the loopback server of the tests


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):8.3f} s  (range {min(xs):.3f}..{max(xs):.3f}, n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--checks", type=int, default=20, help="watch checks to time")
    args = ap.parse_args()

    mirror = Path(os.environ.get("BNPIPE_DATA_MIRROR") or REPO.parent / "shared" / "data")
    tmp = Path(tempfile.mkdtemp(prefix="bnpipe-bench-reuse-"))
    server = ConditionalFiles(mirror.resolve())
    os.environ.update(
        {
            "BNPIPE_DATA_MIRROR": server.url,
            "BNPIPE_STATE_DIR": str(tmp / "state"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        }
    )
    from bnpipe.settings import telemetry_off

    telemetry_off()
    from prefect.testing.utilities import prefect_test_harness

    from bnpipe import watch
    from bnpipe.catalog import get_spec, load_catalog
    from bnpipe.flows.bn_comparison import bn_comparison
    from bnpipe.flows.bn_watch import bn_watch
    from bnpipe.ops.cluster import TrainingCluster
    from bnpipe.params import RunConfig
    from bnpipe.settings import load_settings

    datasets = ["boston", "iris"]
    config = RunConfig(epochs=args.epochs, seeds=args.seeds)
    print(f"bench_reuse: {', '.join(datasets)}, {args.seeds} seeds x {args.epochs} epochs")
    print(f"nproc {os.cpu_count()}, load average at start {os.getloadavg()[0]:.2f}")
    with (
        prefect_test_harness(server_startup_timeout=120),
        TrainingCluster() as dask,
        dask.exported(),
    ):
        bn_comparison(datasets=datasets, config=config)  # untimed: XLA cache, champions
        full = timed(
            lambda: bn_comparison(datasets=datasets, config=config, force=True), args.repeat
        )
        skipped = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            out = bn_comparison(datasets=datasets, config=config)
            skipped.append(time.perf_counter() - began)
            assert all(r.outcome == "unchanged" for r in out.values()), out
        flows = timed(lambda: bn_watch(datasets=datasets), max(3, args.repeat))
        settings = load_settings()
        catalog = load_catalog(settings.catalog_path)
        specs = {name: get_spec(catalog, name) for name in datasets}

        def check(name: str) -> None:
            watch.check(specs[name], settings, log=lambda message: None)

        checks = {name: timed(lambda n=name: check(n), args.checks) for name in datasets}
    server.close()
    not_modified = sum(1 for _, code in server.answers if code == 304)

    print()
    print(f"full comparison (force)      {fmt(full)}")
    print(f"unchanged data (skipped)     {fmt(skipped)}")
    print(
        f"  ratio full / unchanged     {statistics.median(full) / statistics.median(skipped):8.1f}x  (target >= 4x)"
    )
    print(f"bn-watch flow, both datasets {fmt(flows)}")
    for name, xs in checks.items():
        size = (mirror / f"{name}.csv").stat().st_size
        print(f"watch.check {name:<7} ({size:>6} B) {fmt(xs)}")
    print(f"HTTP answers: {len(server.answers)}, of which 304 (no body): {not_modified}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What mutual TLS costs the embedded Dask cluster of ``bnpipe run``.

In one process, side by side and interleaved: ``bnpipe.ops.cluster._local_cluster``
as ``bnpipe run`` opens it (``Security.temporary()``, ``tls://``) against the
same cluster over plain ``tcp://``, each timed from nothing to the first
finished task (one worker, the cluster's threads), and a round trip of small
tasks once it is up. Creating the temporary CA and keys alone is timed too.

    .venv/bin/python bench/bench_cluster_tls.py [--repeat 5] [--tasks 200]

The machine is shared and noisy: medians and ranges, and the ratio of medians.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time


def _cluster(tls: bool):
    from distributed import LocalCluster
    from distributed.security import Security

    from bnpipe.ops import cluster

    if tls:
        return cluster._local_cluster(1)  # what bnpipe run opens
    return LocalCluster(
        n_workers=1,
        threads_per_worker=cluster.THREADS_PER_WORKER,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.CRITICAL,
        security=Security(),
    )


def one(tls: bool, tasks: int) -> tuple[float, float]:
    """(seconds to the first result, seconds for ``tasks`` round trips)."""
    from distributed import Client

    began = time.perf_counter()
    with _cluster(tls) as c, Client(c, set_as_default=False) as client:
        client.submit(int, 1).result()
        started = time.perf_counter() - began
        t = time.perf_counter()
        client.gather([client.submit(int, i, pure=False) for i in range(tasks)])
        return started, time.perf_counter() - t


def _line(name: str, values: list[float]) -> str:
    return f"  {name:<34} median {statistics.median(values):6.3f} s  (range {min(values):.3f}-{max(values):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=200)
    args = ap.parse_args()
    from distributed.security import Security

    one(True, 1)  # untimed: imports, the first worker process
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.repeat):
        for tls in (False, True):
            results[tls].append(one(tls, args.tasks))
    ca = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        Security.temporary()
        ca.append(time.perf_counter() - t)
    print(f"embedded Dask cluster, 1 worker, {args.repeat} runs each, interleaved")
    for tls in (False, True):
        name = "tls:// Security.temporary()" if tls else "tcp:// (no security)"
        print(_line(f"{name}: start to 1st result", [r[0] for r in results[tls]]))
        print(_line(f"{name}: {args.tasks} round trips", [r[1] for r in results[tls]]))
    print(_line("Security.temporary() alone", ca))
    for i, what in ((0, "start-up"), (1, "round trips")):
        tls = statistics.median(r[i] for r in results[True])
        tcp = statistics.median(r[i] for r in results[False])
        print(f"  tls/tcp {what}: {tls / tcp:.2f}x ({tls - tcp:+.3f} s)")


if __name__ == "__main__":
    main()

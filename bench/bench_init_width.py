"""``bnpipe dataset init`` at width: how its time grows with a table's columns.

    .venv/bin/python bench/bench_init_width.py                     # 250, 500, 1000, 2000 columns
    .venv/bin/python bench/bench_init_width.py --widths 250,500 --old-max 500

For each width, a synthetic CSV of 300 rows x N numeric columns (seeded normal
values, rounded to 4 digits) and a numeric target:

1. ``bnpipe dataset init`` end to end, as a user runs it: a fresh process (the
   imports included) on an empty project folder. Wall and CPU seconds, the
   growth against the narrowest width, and the CPU seconds each 100 more
   columns add (flat when the growth is linear; the imports are paid once).
2. In this process, side by side, the step that was quadratic: the drafted
   suite's GX rules validated on the frame, four ways:
   - one batch, summary: the whole suite in one GX batch with the summary result
     format (what init and run did before; quadratic in width, so only up to
     ``--old-max`` columns: at 2000 it did not finish in 12 minutes);
   - one batch, pass/fail first: the same batch, result format BOOLEAN_ONLY;
   - batches of 50, summary: the columns in GX batches of 50, summary format;
   - batches of 50, pass/fail first: what bnpipe does now
     (``bnpipe.validation.gx_context._run_gx``).
   Each as the median of ``--repeat`` runs, and each against the first.

The machine is shared and noisy: read the ratios (and the CPU column when the
load average is high).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

ROWS = 300


def machine() -> str:
    from machine import cpu_model  # bench/machine.py, beside this script

    cpu = cpu_model()
    import great_expectations as gx
    import pandas as pd

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"nproc {len(os.sched_getaffinity(0))}, CPU {cpu}, Python {platform.python_version()}, "
        f"GX {gx.__version__}, pandas {pd.__version__}, load average at start {load}"
    )


def write_csv(path: Path, columns: int, rows: int = ROWS) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(columns)
    df = pd.DataFrame(
        rng.normal(size=(rows, columns)).round(4), columns=[f"c{i}" for i in range(columns)]
    )
    df["y"] = rng.normal(size=rows).round(3)
    df.to_csv(path, index=False)


def init_end_to_end(csv: Path, project: Path, name: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``bnpipe dataset init`` as a fresh process."""
    project.mkdir(parents=True)
    env = {
        **os.environ,
        "BNPIPE_PROJECT_DIR": str(project),
        "BNPIPE_CATALOG": str(project / "datasets.yaml"),
        "BNPIPE_EXPECTATIONS_DIR": str(project / "expectations"),
        "BNPIPE_STATE_DIR": str(project / ".bnpipe"),
    }
    cmd = [sys.executable, "-m", "bnpipe.ops.cli", "dataset", "init", name]
    cmd += ["--url", str(csv), "--target", "y"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"dataset init failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


# ----------------------------------------------------------------- the validation, four ways


def one_batch(df, expectations, result_format):
    """The whole suite in one GX batch (bnpipe before the batches of columns)."""
    from bnpipe.validation import gx_context

    gx = gx_context._gx()
    suite = gx.ExpectationSuite(name="bench", expectations=gx_context._built(expectations, "b"))
    batch = gx_context._batch_definition().get_batch(batch_parameters={"dataframe": df})
    return list(batch.validate(suite, result_format=result_format).results)


def batches(df, expectations, result_format):
    """The batches of columns of ``_run_gx``, in one result format."""
    from bnpipe.validation import gx_context

    gx = gx_context._gx()
    built = gx_context._built(expectations, "b")
    results = []
    for frame, members in gx_context._groups(df, expectations):
        batch = gx_context._batch_definition().get_batch(batch_parameters={"dataframe": frame})
        suite = gx.ExpectationSuite(name="bench", expectations=[built[i] for i in members])
        results += batch.validate(suite, result_format=result_format).results
    return results


def now(df, expectations):
    from bnpipe.validation import gx_context

    return gx_context._run_gx(df, expectations, name="bench", source=Path("bench"))


def variants(old: bool):
    from bnpipe.validation import gx_context

    summary = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
    boolean = {"result_format": "BOOLEAN_ONLY"}
    n = gx_context.GROUP_COLUMNS
    out = []
    if old:
        out += [
            ("one batch, summary (before)", lambda df, e: one_batch(df, e, summary)),
            ("one batch, pass/fail first", lambda df, e: one_batch(df, e, boolean)),
        ]
    out += [
        (f"batches of {n}, summary", lambda df, e: batches(df, e, summary)),
        (f"batches of {n}, pass/fail first (now)", now),
    ]
    return out


def timed(fn, df, expectations, repeat: int) -> tuple[float, float, int]:
    walls, cpus = [], []
    for _ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        results = fn(df, expectations)
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    failed = sum(not r.success for r in results)
    if failed:
        sys.exit(f"{failed} of the drafted suite's rules fail on its own data")
    return statistics.median(walls), statistics.median(cpus), len(results)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="250,500,1000,2000", help="columns, comma-separated")
    ap.add_argument("--old-max", type=int, default=500, help="widest table for one batch")
    ap.add_argument("--repeat", type=int, default=1, help="validations per variant (median)")
    ap.add_argument("--skip-end-to-end", action="store_true")
    args = ap.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    print(machine(), flush=True)

    from bnpipe import drafting
    from bnpipe.validation import gx_context

    with tempfile.TemporaryDirectory(prefix="bnpipe-bench-init-") as tmp:
        tmp = Path(tmp)
        for w in widths:
            write_csv(tmp / f"wide{w}.csv", w)

        if not args.skip_end_to_end:
            print(f"\nbnpipe dataset init, end to end (a fresh process; {ROWS} rows)")
            print(f"{'columns':>8} {'wall s':>8} {'CPU s':>8} {'x columns':>10} {'x CPU':>7} "
                  f"{'CPU s per 100 more cols':>24}")  # fmt: skip
            first = last = None
            for w in widths:
                wall, cpu = init_end_to_end(tmp / f"wide{w}.csv", tmp / f"e2e{w}", f"w{w}")
                first = first or (w, cpu)
                more = f"{100 * (cpu - last[1]) / (w - last[0]):.2f}" if last else "-"
                last = (w, cpu)
                print(f"{w:>8} {wall:>8.1f} {cpu:>8.1f} {w / first[0]:>10.1f} "
                      f"{cpu / first[1]:>7.1f} {more:>24}", flush=True)  # fmt: skip

        print(f"\nthe drafted suite's GX rules on its own frame, in this process ({ROWS} rows)")
        gx_context.preload()
        label_w = 38
        print(f"{'columns':>8} {'rules':>6}  {'how':<{label_w}} {'wall s':>8} {'CPU s':>8} "
              f"{'x vs 1st (CPU)':>14}")  # fmt: skip
        for w in widths:
            draft = drafting.draft_dataset(f"w{w}", str(tmp / f"wide{w}.csv"), target="y")
            rules = [e for e in draft.suite["expectations"] if not e["type"].startswith("bnpipe_")]
            base = None
            for label, fn in variants(old=w <= args.old_max):
                wall, cpu, n = timed(fn, draft.frame, rules, args.repeat)
                base = base or cpu
                print(f"{w:>8} {n:>6}  {label:<{label_w}} {wall:>8.1f} {cpu:>8.1f} "
                      f"{base / cpu:>14.1f}", flush=True)  # fmt: skip
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\nload average at end {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

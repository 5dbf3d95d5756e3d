"""The target-leak check (``bnpipe.leaks``): what it finds and what it costs.

    .venv/bin/python bench/bench_leaks.py              # the study tables, if the mirror has them
    .venv/bin/python bench/bench_leaks.py --wide-only  # only the synthetic wide tables

1. Each table of ``<BNPIPE_DATA_MIRROR>/study/tables.tsv`` (the study's real
   tables, a row each: name, task, target, drop list), profiled as ``bnpipe
   dataset init`` profiles it, with its ``drop`` list applied (the check should
   find nothing) and without it (it should name the leaking columns). Prints one
   line per table: rows x columns, the check's milliseconds, its findings.
2. Synthetic tables of 10,000 rows x 2,000 numeric columns and 200,000 x 50,
   with and without a leak (a target that two columns add up to): seconds per
   check (median of 3). Target: well under a second at 2,000 columns.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def study(mirror: Path) -> None:
    from bnpipe import ingest, leaks, profiling

    root = mirror / "study"
    rows = list(csv.DictReader((root / "tables.tsv").open(encoding="utf-8"), delimiter="\t"))
    for applied in (True, False):
        print(f"-- {len(rows)} tables, drop lists {'applied' if applied else 'NOT applied'}")
        flagged = 0
        for r in rows:
            df = ingest.read_csv(root / f"{r['name']}.csv")
            task = "regression" if r["task"] == "regression" else "classification"
            drop = [c for c in r["drop"].split(",") if c] if applied else []
            prof = profiling.profile_frame(df, target=r["target"], task=task, exclude=drop)
            numeric = [c for c in prof.features if c not in {*prof.categorical, *prof.dates}]
            began = time.perf_counter()
            found = leaks.find_leaks(
                df, target=r["target"], task=task, numeric=numeric, categorical=prof.categorical
            )
            ms = 1000 * (time.perf_counter() - began)
            flagged += bool(found)
            said = "; ".join(f"{', '.join(f.columns)} ({f.rule})" for f in found) or "-"
            print(f"{r['name']:<18} {len(df):>6} x {df.shape[1]:<3} {ms:6.0f} ms  {said}")
        print(f"flagged {flagged} of {len(rows)}")


def wide() -> None:
    import numpy as np
    import pandas as pd

    from bnpipe import leaks

    rng = np.random.default_rng(0)
    for n, p in ((10_000, 2_000), (200_000, 50)):
        columns = [f"c{i}" for i in range(p)]
        df = pd.DataFrame(rng.normal(size=(n, p)), columns=columns)
        for label, y in (("leak", df["c3"] + df["c7"]), ("none", rng.normal(size=n))):
            df["y"] = y
            times, found = [], []
            for _ in range(3):
                began = time.perf_counter()
                found = leaks.find_leaks(df, target="y", task="regression", numeric=columns)
                times.append(time.perf_counter() - began)
            named = [", ".join(f.columns) for f in found] or "-"
            print(f"{n:>7} x {p:<5} {label}: {statistics.median(times):.2f} s  {named}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wide-only", action="store_true")
    args = parser.parse_args()
    mirror = Path(os.environ.get("BNPIPE_DATA_MIRROR") or REPO.parent / "shared" / "data")
    if not args.wide_only and (mirror / "study" / "tables.tsv").is_file():
        study(mirror)
    elif not args.wide_only:
        print(f"no study tables under {mirror}: set BNPIPE_DATA_MIRROR; synthetic tables only")
    wide()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training-speed benchmark: the notebook's ``fit`` vs the compiled engine, side by side.

    .venv/bin/python bench/bench_training.py            # 1000 epochs, 10 seeds
    .venv/bin/python bench/bench_training.py --quick    # 100 epochs, 3 seeds
    .venv/bin/python bench/bench_training.py --epochs 1000 --seeds 10

Runs in one process, on the real boston and iris CSVs (``BNPIPE_DATA_MIRROR``,
default ``../shared/data`` next to the repository), the four models (plain and
bn x boston and iris) with the notebook's settings (raw inputs, RMSprop,
batch 32). All methods train on the same rows: a fixed 70 % train split (the
engine also gets the 15 % validation split for its per-epoch ``val_loss``,
which the notebook-style runs do not compute). Methods:

1. notebook  ``model.fit(x, y)`` on numpy arrays, as the notebook does;
2. tf.data   ``fit`` on a pre-built, batched ``tf.data.Dataset`` with
             ``steps_per_execution`` = one epoch's batches;
3. engine cold  ``train_seeds`` on an empty cache: includes tracing + XLA compile;
4. engine warm  a second seed through the same compiled loop;
5. engine K seeds  ``train_seeds(seeds=range(K))`` per model from an empty cache
             (compile included), i.e. what ``bnpipe run --seeds K`` pays.

For each: wall seconds per model and for all four, process CPU seconds (the
machine may be shared; CPU time is less sensitive to other load), the speed-up
against the notebook's fit, and the process's peak RSS so far (``ru_maxrss``,
monotonic over the run, so it is reported after each method).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = [("boston", "plain"), ("boston", "bn"), ("iris", "plain"), ("iris", "bn")]


@dataclass
class Method:
    name: str
    wall: dict[str, float] = field(default_factory=dict)  # per model key
    cpu: dict[str, float] = field(default_factory=dict)
    final_loss: dict[str, float] = field(default_factory=dict)
    models_per_key: int = 1
    peak_rss_mb: float = 0.0
    note: str = ""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    from machine import cpu_model  # bench/machine.py, beside this script

    cpu = cpu_model()
    import keras
    import tensorflow as tf

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"nproc {usable} (cpu_count {os.cpu_count()}), CPU {cpu}, "
        f"Python {platform.python_version()}, TF {tf.__version__}, Keras {keras.__version__}, "
        f"load average at start {load}"
    )


def load_data(mirror: Path):
    """Raw notebook encoding, fixed 70/15/15 split: {name: (task, x, y, x_val, y_val)}."""
    import numpy as np
    import pandas as pd

    def split(n):
        order = np.random.default_rng(0).permutation(n)
        a, b = int(0.7 * n), int(0.85 * n)
        return order[:a], order[a:b]

    out = {}
    boston = pd.read_csv(mirror / "boston.csv")
    x = boston.drop(columns="medv").astype("float32").to_numpy()
    y = boston[["medv"]].astype("float32").to_numpy()
    tr, va = split(len(x))
    out["boston"] = ("regression", x[tr], y[tr], x[va], y[va])
    iris = pd.read_csv(mirror / "iris.csv")
    x = iris.iloc[:, :4].astype("float32").to_numpy()
    y = pd.get_dummies(iris.iloc[:, 4]).astype("float32").to_numpy()
    tr, va = split(len(x))
    out["iris"] = ("classification", x[tr], y[tr], x[va], y[va])
    return out


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w, time.process_time() - c


def _fit_numpy(variant, task, x, y, epochs):
    import keras

    from bnpipe.models import build_model, loss_name

    keras.utils.set_random_seed(0)
    model = build_model(variant, x.shape[1], y.shape[1], task)
    model.compile(optimizer="rmsprop", loss=loss_name(task))
    return model.fit(x, y, epochs=epochs, batch_size=32, verbose=0).history["loss"][-1]


def _fit_dataset(variant, task, x, y, epochs):
    import keras
    import tensorflow as tf

    from bnpipe.models import build_model, loss_name

    keras.utils.set_random_seed(0)
    steps = -(-len(x) // 32)  # one epoch's batches per execution
    model = build_model(variant, x.shape[1], y.shape[1], task)
    model.compile(optimizer="rmsprop", loss=loss_name(task), steps_per_execution=steps)
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=0, reshuffle_each_iteration=True)
        .batch(32)
        .prefetch(tf.data.AUTOTUNE)
    )
    history = model.fit(dataset, epochs=epochs, verbose=0, shuffle=False)
    return history.history["loss"][-1]


def _engine(variant, task, x, y, xv, yv, seeds, epochs):
    from bnpipe import engine
    from bnpipe.params import RunConfig

    cfg = RunConfig(epochs=epochs)
    return engine.train_seeds(variant, task, x, y, xv, yv, seeds=seeds, config=cfg)


def fit_method(name: str, fn, data, epochs: int) -> Method:
    m = Method(name)
    for ds, variant in MODELS:
        task, x, y, _, _ = data[ds]
        key = f"{ds}/{variant}"
        loss, m.wall[key], m.cpu[key] = timed(partial(fn, variant, task, x, y, epochs))
        m.final_loss[key] = loss
        print(f"  {name} {key}: {m.wall[key]:.1f} s", flush=True)
    m.peak_rss_mb = peak_rss_mb()
    return m


def engine_cold_warm(data, epochs: int) -> tuple[Method, Method]:
    from bnpipe import engine

    engine.clear_cache()
    cold, warm = Method("engine cold (1st seed, compile incl.)"), Method("engine warm (next seed)")
    for ds, variant in MODELS:
        task, x, y, xv, yv = data[ds]
        key = f"{ds}/{variant}"
        for method, seed in ((cold, 0), (warm, 1)):
            run = partial(_engine, variant, task, x, y, xv, yv, [seed], epochs)
            (res,), method.wall[key], method.cpu[key] = timed(run)
            method.final_loss[key] = res.history["loss"][-1]
        print(
            f"  engine {key}: cold {cold.wall[key]:.2f} s, warm {warm.wall[key]:.3f} s", flush=True
        )
    cold.peak_rss_mb = warm.peak_rss_mb = peak_rss_mb()
    return cold, warm


def engine_seeds(data, epochs: int, k: int) -> Method:
    import numpy as np

    from bnpipe import engine

    engine.clear_cache()
    m = Method(f"engine {k} seeds per model (compile incl.)", models_per_key=k)
    per_seed_warm = []
    for ds, variant in MODELS:
        task, x, y, xv, yv = data[ds]
        key = f"{ds}/{variant}"
        run = partial(_engine, variant, task, x, y, xv, yv, list(range(k)), epochs)
        res, m.wall[key], m.cpu[key] = timed(run)
        m.final_loss[key] = float(np.median([r.history["loss"][-1] for r in res]))
        per_seed_warm += [r.seconds for r in res[1:]]
        print(f"  engine {k} seeds {key}: {m.wall[key]:.2f} s", flush=True)
    m.peak_rss_mb = peak_rss_mb()
    if per_seed_warm:
        m.note = f"median warm seed {statistics.median(per_seed_warm):.3f} s"
    return m


def report(methods: list[Method], epochs: int, k: int, header: str) -> str:
    base = methods[0]
    base_total = sum(base.wall.values())
    base_cpu = sum(base.cpu.values())
    keys = [f"{d}/{v}" for d, v in MODELS]
    lines = [
        header,
        f"epochs {epochs}, batch 32, RMSprop, raw inputs; train rows: "
        "boston 354, iris 105; seconds are wall clock unless marked cpu",
        "",
    ]
    head = f"{'method':<42}" + "".join(f"{k_:>14}" for k_ in keys)
    head += f"{'all four':>10}{'cpu all':>9}{'x faster':>10}{'x (cpu)':>9}{'peak RSS':>10}"
    lines += [head, "-" * len(head)]
    for m in methods:
        total, cpu = sum(m.wall.values()), sum(m.cpu.values())
        row = f"{m.name:<42}" + "".join(f"{m.wall[k_]:>14.3f}" for k_ in keys)
        speed = base_total / total if total else float("nan")
        speed_cpu = base_cpu / cpu if cpu else float("nan")
        row += f"{total:>10.2f}{cpu:>9.2f}{speed:>10.1f}{speed_cpu:>9.1f}{m.peak_rss_mb:>8.0f}MB"
        lines.append(row)
        if m.models_per_key > 1:
            per = f"{'  ... per model (/' + str(m.models_per_key) + ')':<42}" + "".join(
                f"{m.wall[k_] / m.models_per_key:>14.3f}" for k_ in keys
            )
            lines.append(per + f"{total / m.models_per_key:>10.2f}   {m.note}")
    lines.append("")
    lines.append("final training loss (sanity: same order of magnitude everywhere)")
    for m in methods:
        lines.append(f"  {m.name:<40}" + "".join(f"{m.final_loss[k_]:>14.4g}" for k_ in keys))
    warm = next(m for m in methods if m.name.startswith("engine warm"))
    seeds = next(m for m in methods if m.name.startswith(f"engine {k} seeds"))
    warm_ratio = base_total / sum(warm.wall.values())
    seeds_total = sum(seeds.wall.values())
    lines += [
        "",
        f"target: engine warm >= 100x faster than the notebook's fit: {warm_ratio:.0f}x "
        f"-> {'MET' if warm_ratio >= 100 else 'NOT MET'}",
        f"target: {k} seeds per variant on both data sets ({4 * k} models, compile included) "
        f"cost less than the notebook's single seed (4 models): {seeds_total:.1f} s vs "
        f"{base_total:.1f} s -> {'MET' if seeds_total < base_total else 'NOT MET'}",
        "load average at end " + " ".join(f"{v:.2f}" for v in os.getloadavg()),
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default 1000)")
    p.add_argument("--seeds", type=int, default=None, help="K for the K-seeds run (default 10)")
    p.add_argument("--quick", action="store_true", help="100 epochs, 3 seeds")
    p.add_argument(
        "--skip-notebook",
        action="store_true",
        help="skip the (slow) fit runs; ratios then use the engine cold run as base",
    )
    args = p.parse_args(argv)
    epochs = args.epochs or (100 if args.quick else 1000)
    k = args.seeds or (3 if args.quick else 10)
    mirror = Path(os.environ.get("BNPIPE_DATA_MIRROR") or REPO.parent / "shared" / "data").resolve()
    if not (mirror / "boston.csv").is_file():
        print(f"no boston.csv under {mirror}: set BNPIPE_DATA_MIRROR", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO / "src"))
    from bnpipe import engine

    engine._configure_tf()  # same threading for every method
    header = "bnpipe training benchmark\n" + machine()
    print(header, flush=True)
    data = load_data(mirror)
    methods = []
    if not args.skip_notebook:
        methods.append(fit_method("notebook fit (numpy)", _fit_numpy, data, epochs))
        methods.append(
            fit_method("fit on tf.data + steps_per_execution", _fit_dataset, data, epochs)
        )
    cold, warm = engine_cold_warm(data, epochs)
    methods += [cold, warm, engine_seeds(data, epochs, k)]
    print()
    print(report(methods, epochs, k, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

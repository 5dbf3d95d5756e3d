"""Training engine: the notebook's Keras networks, trained fast and reproducibly.

``train_seeds`` trains one network variant on one data set for several seeds
and returns, per seed, its own Keras model with trained weights, the per-epoch
``loss``/``val_loss`` curves and the wall time spent.

Two engines (``RunConfig.engine``):

``"compiled"`` (default)
    All epochs and all batches run inside ONE ``tf.function(jit_compile=True)``
    over the same Keras model (docs/performance.md). It keeps ``fit``'s
    semantics: mini-batches of ``batch_size``; a fresh shuffle every epoch
    (a stateless permutation keyed on ``(seed, epoch)``, see
    :func:`epoch_permutation`); the short last batch as its own fixed-shape
    step (XLA needs static shapes); ``model(x, training=True)`` so
    BatchNormalization updates its moving statistics; the optimizer by Keras
    name (RMSprop and its defaults unless configured), built before tracing;
    the epoch loss is the batch losses' mean weighted by batch size (what
    ``fit`` reports); the validation loss is ``model(x_val, training=False)``
    on the validation rows. Both curves are collected in ``TensorArray``\\ s.

``"fit"``
    The notebook's way, for comparison: ``model.compile(optimizer, loss)`` and
    ``model.fit`` on numpy arrays, history from ``fit``'s ``History``.
    Caveat (Keras 3.15 / TF 2.21, verified by recording the batches): once a
    global seed is set, which this engine does for reproducible weights,
    ``fit(shuffle=True)`` on numpy arrays draws ONE permutation and reuses it
    every epoch (the ``tf.random.shuffle`` in Keras' tf.data pipeline is
    re-instantiated with the same op seed each epoch). Unseeded ``fit`` (the
    notebook) and the compiled engine reshuffle every epoch. Fed the same row
    orders, the two engines agree to ~1e-7 (see tests/unit/test_engine.py).

Seeds (the design choice, decided by measurement). Tracing and XLA compile
cost ~3-5 s per (variant, data shapes, config) on the 2-core dev machine
(~1 s tracing, 2-3 s XLA), while a warm 1000-epoch run costs ~0.2-0.5 s. So
the compiled loop is traced and compiled ONCE per (variant, task, data shapes,
config), cached in :mod:`bnpipe.engine.compiled`, and every seed reuses
it: the model's variables get the initial weights of a fresh model built after
``keras.utils.set_random_seed(seed)`` (exactly the weights ``fit`` starts from
for that seed), the optimizer's variables (slots, iteration counter, learning
rate) are restored to their just-built values, the loop runs, and the trained
weights (BatchNormalization's moving statistics included) are copied into
that per-seed model, which is returned. The next seed's model is built on a
helper thread while the current seed trains. Stacking K seeds' weights into
one graph was measured as the alternative (``tf.vectorized_map`` over
``Model.stateless_call`` with [K, ...] variables, the Keras optimizer on the
stacked variables, per-seed shuffles): ~24-27 us per model and step at K=10
and K=40 against ~30-37 us sequential, i.e. no real gain, because pfor turns
the tiny matmuls into batched dots whose cost grows linearly with K; and it
compiles a new graph for every K (7-29 s cold), so sequential reuse won.
(A hand-vectorised einsum re-implementation of the nets might do better, but
it would no longer train the Keras models as they are.)
Reproducibility: a seed gives bit-identical results for the same config and
data, whichever other seeds are trained in the same call.

Threads: TensorFlow's intra-/inter-op pools are set to the number of CPUs
when the engine first loads TensorFlow (if TF is not initialised yet). The
compiled loop itself runs its tiny ops on one core (XLA:CPU executes them in
sequence; the pool size made no measurable difference), so the second core
pays off through concurrency: ``train_seeds`` is thread-safe, concurrent calls
for different variants/data sets run in parallel on their own compiled loops
(calls needing the same cached loop take turns), and model building overlaps
training.

Persistent XLA cache: if ``BNPIPE_XLA_CACHE_DIR`` is set, the engine adds
``--tf_xla_persistent_cache_directory=<dir>`` to ``TF_XLA_FLAGS`` before it
imports TensorFlow, unless ``TF_XLA_FLAGS`` already names a persistent cache
directory (an explicit setting wins). It only takes effect if TensorFlow has
not read its XLA flags yet, i.e. set it before anything in the process
compiles with XLA. Executables are then reused across processes (measured:
first call 2.1 -> 1.1 s for plain, 3.6 -> 1.8 s for bn; tracing is not
cached). The cache's key holds the names in the traced loop, which take
TensorFlow's process-wide uid counter: a loop traced after other work or in
another order (jobs reach a Dask worker in no fixed order) would compile
again, so each loop is traced with uids of its own
(``compiled._stable_names``; measured on 4 loops over a worker's next runs: 4 new cache entries a run
before, none after, training 14-15 s -> 8-9 s). Loading an entry logs two
harmless ERROR lines from TF (a text-format parse attempt, and
"+prefer-no-scatter/gather" tuning flags reported as missing CPU features);
``TF_CPP_MIN_LOG_LEVEL=3`` hides them. The
cache is specific to the CPU type: do not share it between machines.

Nothing here imports Prefect or MLflow, and importing this package does not
load TensorFlow.
"""

from __future__ import annotations

from bnpipe.catalog import TASKS
from bnpipe.engine.compiled import clear_cache
from bnpipe.engine.parts import EpochCallback, TrainedModel, make_loss, make_optimizer
from bnpipe.engine.shuffle import epoch_permutation
from bnpipe.engine.tf_setup import XLA_CACHE_ENV, _configure_tf, preload
from bnpipe.engine.training import prepare, train_seeds

__all__ = [
    "TASKS",
    "XLA_CACHE_ENV",
    "EpochCallback",
    "TrainedModel",
    "_configure_tf",  # bench/bench_training.py sets up TF alike for every method
    "clear_cache",
    "epoch_permutation",
    "make_loss",
    "make_optimizer",
    "preload",
    "prepare",
    "train_seeds",
]

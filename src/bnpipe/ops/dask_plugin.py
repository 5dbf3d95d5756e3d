"""The Dask worker plugin bnpipe registers on every worker it trains on.

It starts loading TensorFlow on a worker as soon as the worker joins (or the
client connects), so the ~10 s import overlaps the flow process's own start
(Prefect, MLflow, Great Expectations) instead of delaying the first job. A
worker started with nothing but ``dask worker ADDRESS`` gets it from the client;
the class is in the installed package, so Dask pickles it by reference.

Imported only where Dask is in use (it imports ``distributed``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from distributed.diagnostics.plugin import WorkerPlugin

# Keras 3 imports its sklearn wrapper and its image-gallery plot on ``import keras``
# when scikit-learn and matplotlib are installed (MLflow installs both): ~3.5 of the
# ~10.5 CPU-s of loading TensorFlow and Keras, for code training never runs. Both
# imports are guarded (``except ImportError``): on the workers of bnpipe's own local
# cluster they are hidden. Never on a user's cluster, whose other work may need them.
UNUSED_ON_OWN_WORKERS = ("sklearn", "matplotlib", "scipy")


class PreloadTensorFlow(WorkerPlugin):
    name = "bnpipe-preload-tensorflow"
    idempotent = True  # registered again by every client: a no-op once present

    def __init__(self, own_workers: bool = False):
        self.own_workers = own_workers
        self._thread: threading.Thread | None = None

    def setup(self, worker) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # XLA cache loads log harmless ERRORs
        if self.own_workers:
            for name in UNUSED_ON_OWN_WORKERS:
                sys.modules.setdefault(name, None)  # type: ignore[arg-type] - None: "import fails"
            # A Ctrl-C in the terminal reaches the whole process group: bnpipe's own
            # process handles it (ends its runs, closes the cluster); workers ignore it.
            with contextlib.suppress(ValueError):  # not the main thread: nothing to do
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        from bnpipe import engine

        self._thread = threading.Thread(target=engine.preload, name="bnpipe-preload-tf")
        self._thread.start()

    def teardown(self, worker) -> None:
        # A process that exits while a thread still imports TensorFlow's C++
        # extensions can abort ("terminate called ..."): let the import finish.
        if self._thread is not None:
            self._thread.join(timeout=60)

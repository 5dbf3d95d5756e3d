"""Load and configure TensorFlow once per process: the persistent XLA cache flag
(``BNPIPE_XLA_CACHE_DIR``, before TensorFlow is imported) and thread pools of
the number of CPUs."""

from __future__ import annotations

import os
import threading

XLA_CACHE_ENV = "BNPIPE_XLA_CACHE_DIR"
_XLA_CACHE_FLAG = "--tf_xla_persistent_cache_directory"

_SETUP_LOCK = threading.Lock()
_TF_CONFIGURED = False


def _xla_flags_with_cache(env: dict[str, str]) -> str | None:
    """The TF_XLA_FLAGS value to set for BNPIPE_XLA_CACHE_DIR, or None to leave it."""
    cache_dir = env.get(XLA_CACHE_ENV)
    if not cache_dir:
        return None
    current = env.get("TF_XLA_FLAGS", "")
    if _XLA_CACHE_FLAG in current:
        return None
    flag = f"{_XLA_CACHE_FLAG}={cache_dir}"
    return f"{current} {flag}".strip()


def _configure_tf() -> None:
    """Once per process: XLA cache flag (before TF import), threads = CPUs."""
    global _TF_CONFIGURED
    with _SETUP_LOCK:
        if _TF_CONFIGURED:
            return
        flags = _xla_flags_with_cache(dict(os.environ))
        if flags is not None:
            os.makedirs(os.environ[XLA_CACHE_ENV], exist_ok=True)
            os.environ["TF_XLA_FLAGS"] = flags
        import tensorflow as tf

        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n = os.cpu_count() or 1
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:
            pass  # TF already initialised by someone else: keep its pools
        _TF_CONFIGURED = True


def preload() -> None:
    """Load and configure TensorFlow and Keras now (~10 s on the dev machine), e.g.
    while a Prefect server boots on the other core, instead of in the first task."""
    _configure_tf()
    import keras  # noqa: F401 - the import is the point

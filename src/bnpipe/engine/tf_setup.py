"""Load and configure TensorFlow once per process: the persistent XLA cache flag
(``BNPIPE_XLA_CACHE_DIR``, before TensorFlow is imported), thread pools of
the number of CPUs, and an import that keeps TensorFlow's start-up notices off
the terminal."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

XLA_CACHE_ENV = "BNPIPE_XLA_CACHE_DIR"
_XLA_CACHE_FLAG = "--tf_xla_persistent_cache_directory"

NATIVE_NOTICES = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|I0000 [^\]]*\] "  # absl INFO lines before absl's initialisation (oneDNN, CPU features)
    rb"|To enable the following instructions: )"
)
"""What TensorFlow's C++ side prints on stderr while it is imported, whatever
``TF_CPP_MIN_LOG_LEVEL`` says (it is read only once absl's logging has started):
the absl preamble and INFO notices such as "oneDNN custom operations are on"."""

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
        with native_notices_dropped():
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


@contextlib.contextmanager
def native_notices_dropped() -> Iterator[None]:
    """Inside, what C++ code writes to file descriptor 2 goes to a temporary file;
    on the way out every line but :data:`NATIVE_NOTICES` is written back. Other
    threads' stderr in that window arrives late, never lost. A process whose
    stderr is no file descriptor (captured in memory) is left alone."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(prefix="bnpipe-tf-stderr-") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().splitlines(True) if not NATIVE_NOTICES.match(line)]
            if kept:
                os.write(fd, b"".join(kept))

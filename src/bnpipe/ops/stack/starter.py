"""Starting components for one ``bnpipe stack up``: each in a process group and
session of its own with its log, waiting until it is ready, the one-off CLI
steps, the progress lines, and stopping exactly what was started if ``up`` fails."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Mapping

from bnpipe.ops.stack.components import COMPONENTS, Component
from bnpipe.ops.stack.config import StackConfig, StackError
from bnpipe.ops.stack.processes import open_log, stop_component, tail


def step(message: str) -> float:
    """Print ``message ...`` (no newline yet); the time it began, for ``done``."""
    print(f"  {message} ...", end="", flush=True)
    return time.perf_counter()


def done(started: float, note: str = "ok") -> None:
    print(f" {note} ({time.perf_counter() - started:.1f} s)", flush=True)


class Starter:
    """Starts components for one ``up``; stops exactly those again if ``up`` fails."""

    def __init__(self, cfg: StackConfig, env: Mapping[str, str]):
        self.cfg, self.env = cfg, dict(env)
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(
        self, c: Component, argv: list[str], extra_env: Mapping[str, str] | None = None, **popen
    ) -> subprocess.Popen:
        """Start ``c``; ``extra_env`` for it alone (a database URL with its password
        goes to the server that needs it, never on a command line or into a log)."""
        with open_log(self.cfg.log_file(c.name), argv) as fh:
            proc = subprocess.Popen(
                argv, cwd=self.cfg.project_dir, env={**self.env, **(extra_env or {})},
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, **popen,
            )  # fmt: skip
        self.procs[c.name] = proc
        self.cfg.pid_file(c).write_text(f"{proc.pid}\n")
        return proc

    def wait_for(self, c: Component, ready: Callable[[], bool], what: str) -> None:
        proc, log = self.procs[c.name], self.cfg.log_file(c.name)
        deadline = time.monotonic() + self.cfg.timeout
        while not ready():
            if proc.poll() is not None:
                raise StackError(
                    f"the {c.title} exited (code {proc.returncode}) before {what}; see {log}:\n{tail(log)}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"the {c.title} did not become ready ({what}) within {self.cfg.timeout:.0f} s "
                    f"(BNPIPE_STACK_TIMEOUT); see {log}:\n{tail(log)}"
                )
            time.sleep(0.5)

    def run(
        self,
        title: str,
        argv: list[str],
        log_name: str,
        timeout: float,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        log = self.cfg.log_file(log_name)
        with open_log(log, argv) as fh:
            try:
                result = subprocess.run(
                    argv, cwd=self.cfg.project_dir, env={**self.env, **(extra_env or {})},
                    stdin=subprocess.DEVNULL,
                    stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise StackError(
                    f"{title} took longer than {timeout:.0f} s; see {log}:\n{tail(log)}"
                ) from None
        if result.returncode != 0:
            raise StackError(f"{title} failed (exit {result.returncode}); see {log}:\n{tail(log)}")

    def rollback(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            c = next(c for c in COMPONENTS if c.name == name)
            if proc.poll() is None:
                stop_component(proc.pid, c, grace=5.0)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
            self.cfg.pid_file(c).unlink(missing_ok=True)

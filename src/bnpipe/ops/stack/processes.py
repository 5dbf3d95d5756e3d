"""The stack's processes: pid files, whether a component (or a port, or a
server's ``/health``) is alive, logs, and stopping a process tree group by group."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from bnpipe.ops.stack.components import COMPONENTS, Component
from bnpipe.ops.stack.config import HOST, StackConfig
from bnpipe.probe import http_get
from bnpipe.processes import is_alive, proc_stat

STOP_GRACE_SECONDS = 15.0


def is_component(pid: int, c: Component) -> bool:
    """The process behind a pid file is still ours (guards against PID reuse)."""
    if not is_alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid file
    words = {Path(a.decode(errors="replace")).name for a in args if a}
    return all(w in words for w in c.argv_names)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = proc_stat(int(entry.name))
                if stat and len(stat) > 1:
                    children.setdefault(int(stat[1]), []).append(int(entry.name))
    return children


def _descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (flow runs may sit in sessions of their own)."""
    children, found, todo = _children_map(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(pid: int, sig: int, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _wait_dead(pids: Iterable[int], timeout: float) -> bool:
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while any(is_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_component(pid: int, c: Component, grace: float = STOP_GRACE_SECONDS) -> str:
    """Stop a component. PostgreSQL's postmaster gets SIGINT (its fast shutdown:
    sessions end, a checkpoint is written) and nothing else: a signal to its
    children would look like a crash to it and start recovery."""
    if not c.postmaster:
        return stop_process(pid, second_sigterm=c.second_sigterm, grace=grace)
    _kill(pid, signal.SIGINT)
    if _wait_dead([pid], max(grace, 30.0)):
        return "stopped"
    return stop_process(pid, grace=5.0)


def stop_process(
    pid: int, *, second_sigterm: bool = False, grace: float = STOP_GRACE_SECONDS
) -> str:
    """Stop the process group led by ``pid`` and every process below it.

    Descendants in process groups of their own (a worker's flow runs) get their
    SIGTERM first, while their parent still relays their output, so a flow run
    can end its MLflow runs and report its state. Then the group gets one SIGTERM
    (a second one after 3 s for a Prefect worker, which stops on the second);
    whatever is left after ``grace`` seconds gets SIGKILL. Returns how it ended.
    """
    family = _descendants(pid)
    detached = [p for p in family if _pgid(p) not in (None, pid)]
    for p in detached:
        _kill(p, signal.SIGTERM)
    clean = _wait_dead(detached, grace)
    _kill(pid, signal.SIGTERM, group=True)
    if second_sigterm and not _wait_dead([pid], 3.0):
        _kill(pid, signal.SIGTERM, group=True)
    clean = _wait_dead([pid, *family], grace) and clean
    if clean:
        return "stopped"
    survivors = [p for p in {pid, *family, *_descendants(pid)} if is_alive(p)]
    _kill(pid, signal.SIGKILL, group=True)
    for p in survivors:
        _kill(p, signal.SIGKILL)
    _wait_dead(survivors, 5.0)
    return "killed (did not stop on SIGTERM)"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running(cfg: StackConfig) -> dict[str, int | None]:
    """Component name -> PID of its live process (None: not running)."""
    out: dict[str, int | None] = {}
    for c in COMPONENTS:
        pid = read_pid(cfg.pid_file(c))
        out[c.name] = pid if pid is not None and is_component(pid, c) else None
    return out


def port_free(port: int, host: str = HOST) -> bool:
    """Nothing listens on ``host:port`` (a server would bind it with SO_REUSEADDR too);
    ``host`` an IPv4 or IPv6 address, or a name (as IPv4)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def healthy(url: str, timeout: float = 3.0) -> bool:
    """``url`` (a server's health check) answers 200."""
    answer = http_get(url, timeout)
    return answer is not None and answer[0] == 200


@contextlib.contextmanager
def open_log(path: Path, argv: list[str]) -> Iterator[BinaryIO]:
    """``path`` opened for appending, after a line with the time and ``argv``."""
    with open(path, "ab") as fh:
        fh.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        fh.flush()
        yield fh


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` of a log, indented (for an error message)."""
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "    (no log)"
    return "\n".join("    " + line for line in text[-lines:])

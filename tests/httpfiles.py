"""The tests' one loopback HTTP server (127.0.0.1, a free port, a thread of its own).

It serves the files of a folder and answers scripted replies, and records what it
was asked and what it answered:

* **files**: ``GET /<path>`` answers the bytes of ``root/<path>`` (symlinks are
  followed) with an ``ETag`` of those bytes; a request whose ``If-None-Match`` is
  that ETag gets ``304`` and no body, so a test can replace a file (:meth:`put`)
  and see the next download change. ``validators=False`` sends no ETag (and never
  304s); ``last_modified`` adds that ``Last-Modified`` header to each file.
* **scripted routes**: :meth:`route` gives a path a list of :class:`Reply`: the
  n-th request gets the n-th reply, the last one repeats. A reply can fail with
  any status, redirect (``headers={"Location": ...}``), come slowly (never, until
  the server closes), announce more bytes than it sends, or send a malformed or
  no ``Content-Length``. Routes come before files; anything else is a 404.
* **records**: ``requests`` (path, ``Authorization`` header) in order, ``hits``
  per path (without the query), ``answers`` (path, status) and ``bytes_served``.

The ``loopback`` fixture of ``tests/conftest.py`` starts one per test and closes
it afterwards; ``data_server`` serves the real CSVs for a whole session.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http.server
import mimetypes
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path


def dead_port() -> int:
    """A loopback port that was bound and closed again: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REPLY_KINDS = ("ok", "truncate", "slow", "badlen", "nolength")


@dataclass
class Reply:
    """One scripted answer. ``kind``: ``ok`` (status, headers, body), ``truncate``
    (announce 500 bytes more than are sent), ``slow`` (no answer until the server
    closes), ``badlen`` (a Content-Length that is not a number), ``nolength`` (no
    Content-Length: the body ends when the connection closes)."""

    status: int = 200
    body: bytes = b""
    kind: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in REPLY_KINDS:
            raise ValueError(f"kind must be one of {REPLY_KINDS}, got {self.kind!r}")


NOT_FOUND = Reply(404, b"not found")


def etag_of(body: bytes) -> str:
    """The ETag the server sends for ``body``."""
    return f'"{hashlib.sha256(body).hexdigest()[:16]}"'


class LoopbackServer:
    """See the module doc. ``url`` (also ``base``) is ``http://127.0.0.1:<port>``."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        validators: bool = True,
        last_modified: str | None = None,
    ):
        self.root = Path(root) if root is not None else None
        self.validators, self.last_modified = validators, last_modified
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.hits: collections.Counter[str] = collections.Counter()
        self.answers: list[tuple[str, int]] = []
        self.bytes_served = 0
        self._lock = threading.Lock()
        self._release = threading.Event()  # lets slow replies go when the server closes
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: one request a connection, so a body may end at the close
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    outer._answer(self)

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ set-up

    def route(self, path: str, *replies: Reply) -> str:
        """Script the answers to ``path``; returns its URL."""
        self.routes[path] = list(replies)
        return self.url + path

    def put(self, relative: str, data: bytes) -> str:
        """Serve ``data`` at ``/<relative>`` (a file under ``root``); returns the base
        URL of its folder, the mirror URL a catalog entry's file is found under."""
        if self.root is None:
            raise ValueError("this server has no root folder to put files in")
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        folder = path.parent.relative_to(self.root).as_posix()
        return self.url if folder == "." else f"{self.url}/{folder}"

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ answers

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append((handler.path, handler.headers.get("Authorization")))
            self.hits[path] += 1
            count = self.hits[path]
        if path in self.routes:
            script = self.routes[path] or [NOT_FOUND]
            reply = script[min(count, len(script)) - 1]
        else:
            reply = self._file_reply(path, handler.headers.get("If-None-Match"))
        if reply.kind == "slow":
            self._release.wait(5)
            return
        self._send(handler, reply)

    def _file_reply(self, path: str, if_none_match: str | None) -> Reply:
        relative = path.lstrip("/")
        if self.root is None or not relative or ".." in Path(relative).parts:
            return NOT_FOUND
        file = self.root / relative
        if not file.is_file():
            return NOT_FOUND
        body = file.read_bytes()
        headers = {"Content-Type": mimetypes.guess_type(file.name)[0] or "text/plain"}
        if self.validators:
            headers["ETag"] = etag_of(body)
            if self.last_modified:
                headers["Last-Modified"] = self.last_modified
            if if_none_match == headers["ETag"]:
                return Reply(304, b"", headers={"ETag": headers["ETag"]})
        return Reply(200, body, headers=headers)

    def _send(self, handler: http.server.BaseHTTPRequestHandler, reply: Reply) -> None:
        headers = {"Content-Type": "text/csv"} if reply.status != 304 else {}
        length = {
            "ok": str(len(reply.body)),
            "truncate": str(len(reply.body) + 500),
            "badlen": "lots",
        }.get(reply.kind)
        if length is not None and reply.status != 304:
            headers["Content-Length"] = length
        headers.update(reply.headers)
        with self._lock:
            self.answers.append((handler.path, reply.status))
        handler.send_response(reply.status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if reply.status != 304 and reply.body:
            handler.wfile.write(reply.body)
            with self._lock:
                self.bytes_served += len(reply.body)


# The name the watch tests and bench/bench_reuse.py know it by: the files of a
# folder with conditional requests.
ConditionalFiles = LoopbackServer

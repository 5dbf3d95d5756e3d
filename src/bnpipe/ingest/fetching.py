"""One attempt at the bytes of an http, https or file URL: conditional requests
(ETag, Last-Modified), a size cap, Basic auth from ``user:password@``, and the
:class:`DownloadError` that says whether another try is worth it."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bnpipe.catalog import URL_SCHEMES


class DownloadError(RuntimeError):
    """A dataset could not be downloaded, or what came back is not a usable CSV.

    ``transient``: worth another try. ``unreachable``: the host did not resolve or
    refused the connection, i.e. most likely no network: one quick retry only."""

    def __init__(self, message: str, *, transient: bool = False, unreachable: bool = False):
        super().__init__(message)
        self.transient = transient or unreachable
        self.unreachable = unreachable


def redact(url: str) -> str:
    """The URL without user:password or query string, safe to log."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class Fetched:
    """One answer of the upstream: its bytes, or None for 304 Not Modified, and the
    validators it sent (ETag, Last-Modified) for the next conditional request."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None


def fetch(url: str, *, timeout: float = 30.0, max_bytes: int = 200 * 1024 * 1024) -> bytes:
    """Fetch the bytes at an http, https or file URL (one attempt)."""
    body = fetch_if_changed(url, timeout=timeout, max_bytes=max_bytes).body
    assert body is not None  # an unconditional request is never answered 304
    return body


def fetch_if_changed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = 200 * 1024 * 1024,
) -> Fetched:
    """Fetch ``url`` (one attempt); with validators from an earlier answer, ask
    with ``If-None-Match``/``If-Modified-Since`` and get ``body=None`` on 304."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in URL_SCHEMES:
        raise DownloadError(
            f"{redact(url)}: unsupported URL scheme {scheme!r} (use http, https or file)"
        )
    shown = redact(url)
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        if not path.is_file():
            raise DownloadError(f"{shown}: no such file")
        if path.stat().st_size > max_bytes:
            raise DownloadError(f"{shown}: file is larger than the {max_bytes} byte cap")
        return Fetched(path.read_bytes())
    request = _http_request(url)
    if etag:
        request.add_header("If-None-Match", etag)
    if last_modified:
        request.add_header("If-Modified-Since", last_modified)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            validators = response.headers.get("ETag"), response.headers.get("Last-Modified")
            expected = response.length  # http.client's parsed Content-Length, or None
            if expected is not None and expected > max_bytes:
                raise DownloadError(
                    f"{shown}: body of {expected} bytes exceeds the {max_bytes} byte cap"
                )
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and (etag or last_modified):
            return Fetched(
                None,
                exc.headers.get("ETag") or etag,
                exc.headers.get("Last-Modified") or last_modified,
            )
        transient = exc.code >= 500 or exc.code in (408, 429)
        raise DownloadError(f"{shown}: HTTP {exc.code} {exc.reason}", transient=transient) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"{shown}: {reason}", transient=True, unreachable=_unreachable(reason)
        ) from None
    except http_client_errors() as exc:
        raise DownloadError(f"{shown}: connection broken ({exc})", transient=True) from None
    if len(body) > max_bytes:
        raise DownloadError(f"{shown}: body exceeds the {max_bytes} byte cap")
    if expected is not None and len(body) < expected:
        raise DownloadError(
            f"{shown}: truncated body ({len(body)} of {expected} bytes)", transient=True
        )
    return Fetched(body, *validators)


def _unreachable(reason: object) -> bool:
    """No route to the data: a name that does not resolve, a refused connection."""
    import errno
    import socket

    if isinstance(reason, socket.gaierror | ConnectionRefusedError):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def _http_request(url: str) -> urllib.request.Request:
    """A GET for ``url``; ``user:password@`` in it becomes HTTP Basic auth.

    urllib would otherwise take ``user:password@host`` for the host name and fail
    with "Name or service not known". The header is not sent on to a redirect.
    """
    parts = urllib.parse.urlsplit(url)
    request = urllib.request.Request(
        urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])),
        headers={"User-Agent": "bnpipe"},
    )
    if parts.username is not None or parts.password is not None:
        import base64

        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def http_client_errors() -> tuple[type[BaseException], ...]:
    import http.client

    return (http.client.IncompleteRead, http.client.RemoteDisconnected)

"""One HTTP request to a server on this machine, as health checks make it: no
proxy (a user's ``HTTP_PROXY`` must not capture 127.0.0.1), a short timeout, and
None instead of an exception when nothing answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(
    url: str,
    timeout: float = 3.0,
    json_body: object = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes] | None:
    """(status, body) of a GET (a POST with ``json_body``) on loopback, or None
    when nothing answers."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if json_body is not None:
        request = urllib.request.Request(
            url,
            data=json.dumps(json_body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
    try:
        with _NO_PROXY_OPENER.open(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, ValueError):
        return None

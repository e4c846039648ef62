"""HTTP helpers shared by the blueprints: URLs, request bodies, pagination."""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import urlencode

from flask import current_app, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected

from .errors import PaginationInvalid, RegistryError

# What a broken or abandoned request body raises while we read it: a bad chunk
# framing (gunicorn), a connection closed early (gunicorn, werkzeug).
_BODY_ERRORS = (OSError, ParseException, ClientDisconnected)

READ_BLOCK = 1 << 20
MAX_PAGE = 1000


def base_url() -> str:
    """Scheme and host clients reach us by: ``http.host``, else the proxy's X-Forwarded-*, else Host."""
    configured = current_app.config["REGISTRY"]["http"].get("host")
    if configured:
        return str(configured).rstrip("/")
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip() or request.scheme
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or request.host
    return f"{proto}://{host}"


def body_chunks(error: type[RegistryError]) -> Iterator[bytes]:
    """The request body in blocks, whether sized by Content-Length or chunked.

    A body that cannot be read to its end is the client's fault: ``error`` (400).
    """
    stream = request.stream
    while True:
        try:
            block = stream.read(READ_BLOCK)
        except _BODY_ERRORS as e:
            raise error({"reason": f"the request body could not be read: {e}"}) from None
        if not block:
            return
        yield block


def read_body(limit: int, error: type[RegistryError]) -> bytes:
    """At most ``limit + 1`` bytes of the body, so the caller can tell it was too long."""
    data = bytearray()
    for block in body_chunks(error):
        data += block
        if len(data) > limit:
            break
    return bytes(data)


def page_request(default: int | None) -> tuple[int | None, str | None]:
    """``n`` and ``last`` query parameters; ``n`` clamped to the maximum page size."""
    raw = request.args.get("n")
    if raw is None or raw == "":
        n = default
    else:
        if not re.fullmatch(r"[0-9]+", raw):  # str.isdigit() also takes non-ASCII digits
            raise PaginationInvalid({"n": raw[:100]})
        n = min(int(raw), MAX_PAGE)
    return n, request.args.get("last")


def paginate(items: list[str], n: int | None, last: str | None, path: str, extra: dict | None = None):
    """The page after ``last`` and the ``Link`` header for the next one, if any follow."""
    if last:
        key = last.encode()
        items = [i for i in items if i.encode() > key]
    if n is None:
        return items, None
    page = items[:n]
    if n == 0 or len(items) <= n:
        return page, None
    query = urlencode({**(extra or {}), "n": n, "last": page[-1]})
    return page, f'<{path}?{query}>; rel="next"'

"""HTTP helpers shared by the blueprints: URLs, request bodies, pagination."""

from __future__ import annotations

from typing import Iterator
from urllib.parse import urlencode

from flask import current_app, request

from .errors import PaginationInvalid

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


def body_chunks() -> Iterator[bytes]:
    """The request body in blocks, whether sized by Content-Length or chunked."""
    stream = request.stream
    while block := stream.read(READ_BLOCK):
        yield block


def page_request(default: int | None) -> tuple[int | None, str | None]:
    """``n`` and ``last`` query parameters; ``n`` clamped to the maximum page size."""
    raw = request.args.get("n")
    if raw is None or raw == "":
        n = default
    else:
        if not raw.isdigit():
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

"""``GET/HEAD/DELETE /v2/<name>/blobs/<digest>``.

Blob bodies are handed to the server's ``wsgi.file_wrapper`` positioned at the
first byte of the answer and with the exact length, so gunicorn can use
``sendfile`` for whole blobs and ranges alike; nothing is read in Python.
"""

import io

from flask import Blueprint, Response, current_app, g, request
from werkzeug.http import parse_if_range_header, parse_range_header

from ..digest import Digest
from ..errors import RegistryError, Unsupported
from ..names import repository_name

bp = Blueprint("blobs", __name__)


class RangeNotSatisfiable(RegistryError):
    code = "SIZE_INVALID"
    status = 416
    message = "requested range not satisfiable"


def _requested_range(size: int, digest: Digest) -> tuple[int, int] | None:
    """``(start, stop)`` to answer with 206, or None for the whole blob (RFC 9110 §14).

    Several ranges, a malformed header or a failed ``If-Range`` mean the whole
    blob; a suffix longer than the blob means all of it.
    """
    ranges = parse_range_header(request.headers.get("Range"))
    if ranges is None or ranges.units != "bytes" or len(ranges.ranges) != 1:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None:
        etag, weak = parse_if_range_header(if_range).etag, if_range.lstrip().startswith("W/")
        if weak or etag != str(digest):
            return None
    start, stop = ranges.ranges[0]
    if start < 0:  # suffix: the last -start bytes
        start, stop = max(size + start, 0), size
    else:
        stop = size if stop is None else min(stop, size)
    if start >= stop:
        raise RangeNotSatisfiable({"size": size}, headers={"Content-Range": f"bytes */{size}"})
    return start, stop


def _body(reader, length: int):
    """Real files go to the server's file wrapper (sendfile, bounded by Content-Length);
    other readers are streamed, reading no further than ``length``."""
    wrapper = request.environ.get("wsgi.file_wrapper")
    if wrapper is not None and isinstance(reader, io.BufferedReader):
        return wrapper(reader, 1 << 20)
    return _bounded(reader, length)


def _bounded(reader, length: int):
    while length > 0:
        block = reader.read(min(length, 1 << 20))
        if not block:
            return
        length -= len(block)
        yield block


@bp.route("/v2/<path:name>/blobs/<digest>", methods=["GET", "HEAD"])
def get_blob(name, digest):
    repository_name(name)
    digest = Digest.parse(digest)
    info = g.store.blob_info(name, digest)
    headers = {
        "Docker-Content-Digest": str(digest),
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }
    span = _requested_range(info.size, digest)
    start, stop = span if span else (0, info.size)
    if span:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
    status = 206 if span else 200
    if request.method == "HEAD":
        response = Response(status=status, headers=headers, content_type="application/octet-stream")
        response.content_length = stop - start
        return response
    if not current_app.config["REGISTRY"]["storage"]["redirect"].get("disable"):
        url = g.store.blob_url(digest)
        if url:
            return Response(status=307, headers={"Location": url, "Docker-Content-Digest": str(digest)})
    reader = g.store.open_blob(digest, start)
    response = Response(
        _body(reader, stop - start), status=status, headers=headers, content_type="application/octet-stream",
        direct_passthrough=True,
    )
    response.content_length = stop - start
    response.call_on_close(reader.close)
    return response


@bp.route("/v2/<path:name>/blobs/<digest>", methods=["DELETE"])
def delete_blob(name, digest):
    repository_name(name)
    digest = Digest.parse(digest)
    if not current_app.config["REGISTRY"]["storage"]["delete"].get("enabled"):
        raise Unsupported({"reason": "deletion is disabled (storage.delete.enabled)"})
    g.store.blob_info(name, digest)
    g.store.unlink_blob(name, digest)
    return Response(status=202, headers={"Docker-Content-Digest": str(digest), "Content-Length": "0"})

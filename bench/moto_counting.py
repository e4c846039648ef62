"""moto_server with a WSGI middleware that counts S3 requests per bucket.

Run as ``python bench/moto_counting.py PORT``.  Same app and request handler
as ``moto_server`` (werkzeug, threaded); in addition every request to a
path-style bucket URL (``/BUCKET/KEY``) is classified into an S3 operation
and counted per bucket: number of requests, request body bytes (``in``,
what the client wrote) and response body bytes (``out``, what the client read
back).  Server-side copies (CopyObject, UploadPartCopy) also add the copied
byte count to ``copied``.  ``GET /__bench/stats`` returns the counters as
JSON.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict
from urllib.parse import parse_qs, unquote

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

LOCK = threading.Lock()
STATS: dict = defaultdict(lambda: defaultdict(lambda: {
    "count": 0, "in": 0, "out": 0, "copied": 0}))


def classify(method: str, key: str, query: dict, environ: dict) -> str:
    copy = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if method == "PUT":
        if "partNumber" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        if not key:
            return "CreateBucket"
        return "CopyObject" if copy else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        if "delete" in query:
            return "DeleteObjects"
        return "POST"
    if method == "GET":
        if not key:
            if "uploads" in query:
                return "ListMultipartUploads"
            return "ListObjects"
        if "uploadId" in query:
            return "ListParts"
        return "GetObject"
    if method == "HEAD":
        return "HeadObject" if key else "HeadBucket"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return "DeleteObject"
    return method


class CountingInput:
    def __init__(self, stream, counter: dict):
        self._s = stream
        self._c = counter

    def _add(self, n: int) -> None:
        with LOCK:
            self._c["in"] += n

    def read(self, *a):
        d = self._s.read(*a)
        self._add(len(d))
        return d

    def readline(self, *a):
        d = self._s.readline(*a)
        self._add(len(d))
        return d

    def readlines(self, *a):
        lines = self._s.readlines(*a)
        self._add(sum(len(x) for x in lines))
        return lines

    def readinto(self, b):
        n = self._s.readinto(b)
        if n:
            self._add(n)
        return n

    def __iter__(self):
        for line in self._s:
            self._add(len(line))
            yield line

    def __getattr__(self, name):
        return getattr(self._s, name)


class CountingIter:
    def __init__(self, it, counter: dict):
        self._it = it
        self._c = counter

    def __iter__(self):
        for chunk in self._it:
            with LOCK:
                self._c["out"] += len(chunk)
            yield chunk

    def close(self):
        close = getattr(self._it, "close", None)
        if close:
            close()


def copied_size(environ: dict, bucket: str, key: str) -> int:
    rng = environ.get("HTTP_X_AMZ_COPY_SOURCE_RANGE", "")
    if rng.startswith("bytes="):
        a, b = rng[6:].split("-")
        return int(b) - int(a) + 1
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        return backend.get_object(bucket, key).size
    except Exception:  # noqa: BLE001 - best effort
        return 0


class Counting:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/__bench/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        parts = path.lstrip("/").split("/", 1)
        bucket = unquote(parts[0])
        key = unquote(parts[1]) if len(parts) > 1 else ""
        query = parse_qs(environ.get("QUERY_STRING", ""),
                         keep_blank_values=True)
        op = classify(environ["REQUEST_METHOD"], key, query, environ)
        with LOCK:
            counter = STATS[bucket or "-"][op]
            counter["count"] += 1
        length = environ.get("CONTENT_LENGTH")
        if length and length.isdigit():
            with LOCK:
                counter["in"] += int(length)
        else:   # chunked: count what is read
            environ["wsgi.input"] = CountingInput(environ["wsgi.input"], counter)
        result = self.app(environ, start_response)
        if op in ("CopyObject", "UploadPartCopy"):
            n = copied_size(environ, bucket, key)
            with LOCK:
                counter["copied"] += n
        return CountingIter(result, counter)


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, Counting(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

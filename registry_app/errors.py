"""The spec's error codes as exceptions, and the one handler that answers them.

Blueprints and the store raise these; ``register`` turns every one of them,
every werkzeug HTTP error (unknown route, wrong method) and any unexpected
exception into the spec's JSON body ``{"errors": [{code, message, detail}]}``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("registry")


class RegistryError(Exception):
    code = "UNKNOWN"
    status = 500
    message = "unknown error"

    def __init__(self, detail=None, *, message: str | None = None, headers: dict | None = None):
        super().__init__(message or self.message)
        self.detail = detail
        if message:
            self.message = message
        self.headers = headers or {}


def _error(name: str, code: str, status: int, message: str) -> type[RegistryError]:
    return type(name, (RegistryError,), {"code": code, "status": status, "message": message})


BlobUnknown = _error("BlobUnknown", "BLOB_UNKNOWN", 404, "blob unknown to registry")
BlobUploadInvalid = _error("BlobUploadInvalid", "BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
BlobUploadUnknown = _error("BlobUploadUnknown", "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
DigestInvalid = _error("DigestInvalid", "DIGEST_INVALID", 400, "provided digest did not match uploaded content")
ManifestBlobUnknown = _error(
    "ManifestBlobUnknown", "MANIFEST_BLOB_UNKNOWN", 400, "manifest references a manifest or blob unknown to registry"
)
ManifestInvalid = _error("ManifestInvalid", "MANIFEST_INVALID", 400, "manifest invalid")
ManifestUnknown = _error("ManifestUnknown", "MANIFEST_UNKNOWN", 404, "manifest unknown to registry")
NameInvalid = _error("NameInvalid", "NAME_INVALID", 400, "invalid repository name")
NameUnknown = _error("NameUnknown", "NAME_UNKNOWN", 404, "repository name not known to registry")
SizeInvalid = _error("SizeInvalid", "SIZE_INVALID", 400, "provided length did not match content length")
Unsupported = _error("Unsupported", "UNSUPPORTED", 405, "the operation is unsupported")
# Distribution says PAGINATION_NUMBER_INVALID; the OCI spec allows only its own codes.
PaginationInvalid = _error("PaginationInvalid", "UNSUPPORTED", 400, "invalid number of results requested")
ManifestTooLarge = _error("ManifestTooLarge", "SIZE_INVALID", 413, "manifest too large")
RangeInvalid = _error("RangeInvalid", "BLOB_UPLOAD_INVALID", 416, "requested range not satisfiable")


def error_response(status: int, code: str, message: str, detail=None, headers=None) -> Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_code(status: int) -> str:
    return "SIZE_INVALID" if status == 413 else "UNSUPPORTED"


def register(app: Flask) -> None:
    @app.errorhandler(RegistryError)
    def registry_error(e: RegistryError):
        return error_response(e.status, e.code, e.message, e.detail, e.headers)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        headers = {"Allow": e.valid_methods and ", ".join(e.valid_methods)} if getattr(e, "valid_methods", None) else {}
        if e.code in (301, 302, 307, 308):
            return e
        return error_response(
            e.code or 400, _http_code(e.code or 400), e.name.lower(), {"method": request.method, "path": request.path},
            headers,
        )

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(500, "UNKNOWN", "internal server error", None)

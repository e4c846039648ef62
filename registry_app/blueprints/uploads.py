"""Blob uploads: ``POST /v2/<name>/blobs/uploads/`` and the upload URL it returns,
``GET/PATCH/PUT/DELETE /v2/<name>/blobs/uploads/<id>`` (OCI "Pushing blobs")."""

import re

from flask import Blueprint, Response, g, request

from ..digest import Digest
from ..errors import BlobUploadInvalid, BlobUploadUnknown, DigestInvalid, SizeInvalid
from ..http import base_url, body_chunks
from ..names import repository_name
from ..store.uploads import Upload, range_header

bp = Blueprint("uploads", __name__)

_UPLOAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?([0-9]+)-([0-9]+)(?:/(?:[0-9]+|\*))?")


def _session_response(upload: Upload, status: int) -> Response:
    location = f"{base_url()}/v2/{upload.name}/blobs/uploads/{upload.id}?_state={g.uploads.token(upload)}"
    return Response(status=status, headers={
        "Location": location,
        "Docker-Upload-UUID": upload.id,
        "Range": range_header(upload.offset),
        "Content-Length": "0",
        "OCI-Chunk-Min-Length": "0",
    })


def _blob_created(name: str, digest: Digest) -> Response:
    return Response(status=201, headers={
        "Location": f"{base_url()}/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": str(digest),
        "Content-Length": "0",
    })


def _chunk_bounds() -> tuple[int | None, int | None]:
    """Start offset and length a request's ``Content-Range`` (inclusive ends) declares."""
    header = request.headers.get("Content-Range")
    if header is None:
        return None, request.content_length
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if not match:
        raise BlobUploadInvalid({"Content-Range": header[:100], "reason": "expected <start>-<end>"})
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise BlobUploadInvalid({"Content-Range": header[:100], "reason": "end before start"})
    length = end - start + 1
    if request.content_length is not None and request.content_length != length:
        raise BlobUploadInvalid({
            "Content-Range": header[:100], "Content-Length": request.content_length,
            "reason": "Content-Length differs from the Content-Range span",
        })
    return start, length


def _open(name: str, upload_id: str) -> Upload:
    repository_name(name)
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise BlobUploadUnknown({"upload": upload_id[:100]})
    return g.uploads.resume(name, upload_id, request.args.get("_state"))


@bp.route("/v2/<path:name>/blobs/uploads/", methods=["POST"], strict_slashes=False)
def start_upload(name):
    repository_name(name)
    mount = request.args.get("mount")
    if mount is not None:
        digest = Digest.parse(mount)
        source = request.args.get("from")
        if source is not None:
            repository_name(source)
        if g.store.mount_blob(name, digest, source):
            return _blob_created(name, digest)
    digest_param = request.args.get("digest")
    if digest_param is not None and mount is None:
        digest = Digest.parse(digest_param)
        upload = g.uploads.start(name, digest.algorithm)
        g.uploads.finish(upload, body_chunks(BlobUploadInvalid), digest, expected_length=request.content_length)
        return _blob_created(name, digest)
    algorithm = request.args.get("digest-algorithm", "sha256")
    if algorithm not in ("sha256", "sha512"):
        raise DigestInvalid({"digest-algorithm": algorithm[:100]}, message="unsupported digest algorithm")
    return _session_response(g.uploads.start(name, algorithm), 202)


@bp.route("/v2/<path:name>/blobs/uploads/<upload_id>", methods=["GET"])
def upload_status(name, upload_id):
    return _session_response(_open(name, upload_id), 204)


@bp.route("/v2/<path:name>/blobs/uploads/<upload_id>", methods=["PATCH"])
def upload_chunk(name, upload_id):
    upload = _open(name, upload_id)
    start, length = _chunk_bounds()
    upload = g.uploads.append(upload, body_chunks(BlobUploadInvalid), start=start, expected_length=length)
    return _session_response(upload, 202)


@bp.route("/v2/<path:name>/blobs/uploads/<upload_id>", methods=["PUT"])
def finish_upload(name, upload_id):
    upload = _open(name, upload_id)
    if "digest" not in request.args:
        raise DigestInvalid({"reason": "the closing PUT needs ?digest=<digest of the whole blob>"})
    digest = Digest.parse(request.args["digest"])
    start, length = _chunk_bounds()
    try:
        g.uploads.finish(upload, body_chunks(BlobUploadInvalid), digest, start=start, expected_length=length)
    except SizeInvalid as e:
        raise BlobUploadInvalid(e.detail) from None
    return _blob_created(name, digest)


@bp.route("/v2/<path:name>/blobs/uploads/<upload_id>", methods=["DELETE"])
def cancel_upload(name, upload_id):
    g.uploads.cancel(_open(name, upload_id))
    return Response(status=204)

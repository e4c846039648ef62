"""``GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>`` (a tag or a digest).

Manifests are stored and served byte for byte: ``Accept`` never changes what
is returned, only the stored bytes with their own media type.
"""

from flask import Blueprint, Response, current_app, g, request

from ..digest import Digest, looks_like_digest
from ..errors import ManifestInvalid, ManifestTooLarge, Unsupported
from ..http import base_url, read_body
from ..manifest import MAX_MANIFEST_BYTES, Manifest
from ..names import repository_name, tag as valid_tag

bp = Blueprint("manifests", __name__)


def _reference(name: str, reference: str) -> tuple[Digest | None, str | None]:
    repository_name(name)
    if looks_like_digest(reference):
        return Digest.parse(reference), None
    return None, valid_tag(reference)


@bp.route("/v2/<path:name>/manifests/<reference>", methods=["GET", "HEAD"])
def get_manifest(name, reference):
    digest, tag = _reference(name, reference)
    if digest is None:
        digest = g.store.resolve_tag(name, tag)
    stored = g.store.get_manifest(name, digest)
    response = Response(
        b"" if request.method == "HEAD" else stored.data,
        headers={"Docker-Content-Digest": str(digest), "ETag": f'"{digest}"'},
        content_type=stored.media_type,
    )
    response.content_length = len(stored.data)
    return response


def _read_manifest_body() -> bytes:
    if request.content_length is not None and request.content_length > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge({"limit": MAX_MANIFEST_BYTES, "size": request.content_length})
    data = read_body(MAX_MANIFEST_BYTES, ManifestInvalid)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge({"limit": MAX_MANIFEST_BYTES})
    return data


@bp.route("/v2/<path:name>/manifests/<reference>", methods=["PUT"])
def put_manifest(name, reference):
    digest, tag = _reference(name, reference)
    extra_tags = [valid_tag(t) for t in request.args.getlist("tag")] if digest is not None else []
    data = _read_manifest_body()
    content_type = (request.mimetype or "").lower()
    manifest = Manifest.parse(data, content_type, digest)
    g.store.check_references(name, manifest)
    tags = [tag] if tag else extra_tags
    g.store.put_manifest(name, manifest, tags)
    response = Response(status=201, headers={
        "Location": f"{base_url()}/v2/{name}/manifests/{manifest.digest}",
        "Docker-Content-Digest": str(manifest.digest),
        "Content-Length": "0",
    })
    if manifest.subject is not None:
        response.headers["OCI-Subject"] = str(manifest.subject)
    if extra_tags:
        # One header (RFC 9110 list syntax): many clients refuse responses with over 100 headers.
        response.headers["OCI-Tag"] = ", ".join(extra_tags)
    return response


@bp.route("/v2/<path:name>/manifests/<reference>", methods=["DELETE"])
def delete_manifest(name, reference):
    digest, tag = _reference(name, reference)
    if not current_app.config["REGISTRY"]["storage"]["delete"].get("enabled"):
        raise Unsupported({"reason": "deletion is disabled (storage.delete.enabled)"})
    if digest is None:
        g.store.delete_tag(name, tag)
    else:
        g.store.delete_manifest(name, digest)
    return Response(status=202, headers={"Content-Length": "0"})

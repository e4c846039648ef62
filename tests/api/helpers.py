"""Shared helpers for the API tests: digests, blob pushes, manifests, error checks.

Import as ``from api.helpers import ...`` (``tests`` is on ``pythonpath``).

Everything talks to the registry through the ``api`` fixture (real HTTP), so
every helper works the same on every storage driver.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import re
from typing import Any
from urllib.parse import urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_NONDIST_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

EMPTY_JSON = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")

# OCI distribution-spec "Error Codes": the only codes a JSON error may carry.
SPEC_ERROR_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
}
_CODE_SHAPE = re.compile(r"[A-Z_]+")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(document: Any) -> bytes:
    """Compact JSON in the document's own key order."""
    return json.dumps(document, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


# -- errors -------------------------------------------------------------------------


def error_body(resp) -> list[dict]:
    """The spec's JSON error body (``{"errors": [{code, message, detail}]}``), checked for shape."""
    assert resp.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", (
        resp.status_code, resp.headers.get("Content-Type"), resp.content[:300])
    body = json.loads(resp.content)
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], body
    for error in body["errors"]:
        assert isinstance(error, dict), body
        assert isinstance(error.get("code"), str) and _CODE_SHAPE.fullmatch(error["code"]), body
        assert "message" not in error or isinstance(error["message"], str), body
    return body["errors"]


def assert_error(resp, status: int, code: str | None = None, *, spec_code: bool = True) -> dict:
    """``resp`` is an error with ``status`` and (if given) ``code`` as the first error's code;
    with ``spec_code``, every code is one of the spec's table."""
    assert resp.status_code == status, (resp.status_code, resp.content[:500])
    errors = error_body(resp)
    if code is not None:
        assert errors[0]["code"] == code, errors
    if spec_code:
        assert all(e["code"] in SPEC_ERROR_CODES for e in errors), errors
    assert resp.headers.get(API_VERSION[0]) == API_VERSION[1]
    return errors[0]


# -- raw HTTP (no URL normalisation) -------------------------------------------------


@dataclasses.dataclass
class RawResponse:
    status_code: int
    headers: Any
    content: bytes


def raw_request(api, method: str, target: str, headers: dict | None = None, body: bytes | None = None) -> RawResponse:
    """Send ``target`` exactly as given (``requests`` would resolve ``..`` and ``%2e``)."""
    parts = urlsplit(api.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None and not any(k.lower() == "content-length" for k in (headers or {})):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        content = resp.read()
        return RawResponse(resp.status, resp.headers, content)
    finally:
        conn.close()


# -- blobs -----------------------------------------------------------------------------


def push_blob(api, repo: str, data: bytes) -> str:
    """Monolithic push, POST then PUT (spec "Pushing a blob monolithically"); the digest."""
    digest = sha256(data)
    resp = api("POST", f"/v2/{repo}/blobs/uploads/")
    assert resp.status_code == 202, (resp.status_code, resp.content[:300])
    location = resp.headers["Location"]
    sep = "&" if "?" in location else "?"
    resp = api("PUT", f"{location}{sep}digest={digest}", data=data,
               headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 201, (resp.status_code, resp.content[:300])
    assert resp.headers["Docker-Content-Digest"] == digest
    return digest


# -- manifests ---------------------------------------------------------------------------


@dataclasses.dataclass
class Pushed:
    """A manifest the registry accepted."""

    data: bytes
    media_type: str
    response: Any = None

    @property
    def digest(self) -> str:
        return sha256(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def document(self) -> dict:
        return json.loads(self.data)

    def descriptor(self, **extra) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


def put_manifest(api, repo: str, reference: str, data: bytes, content_type: str | None, **kwargs):
    headers = dict(kwargs.pop("headers", {}) or {})
    if content_type is not None:
        headers["Content-Type"] = content_type
    return api("PUT", f"/v2/{repo}/manifests/{reference}", data=data, headers=headers, **kwargs)


def push_manifest(api, repo: str, data: bytes, media_type: str, reference: str | None = None,
                  content_type: str | None = None) -> Pushed:
    """PUT ``data`` (by digest unless ``reference``) and require 201 with the right digest."""
    reference = reference or sha256(data)
    resp = put_manifest(api, repo, reference, data, content_type or media_type)
    assert resp.status_code == 201, (resp.status_code, resp.content[:500])
    assert resp.headers["Docker-Content-Digest"] == sha256(data)
    return Pushed(data, media_type, resp)


def image_manifest(config: dict, layers: list[dict], *, media_type: str = OCI_MANIFEST,
                   declare_media_type: bool = True, artifact_type: str | None = None,
                   subject: dict | None = None, annotations: dict | None = None) -> bytes:
    document: dict = {"schemaVersion": 2}
    if declare_media_type:
        document["mediaType"] = media_type
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    document["config"] = config
    document["layers"] = layers
    if subject is not None:
        document["subject"] = subject
    if annotations is not None:
        document["annotations"] = annotations
    return canonical(document)


def push_image(api, repo: str, *, tag: str | None = None, seed: str = "", media_type: str = OCI_MANIFEST,
               layers: int = 1, subject: dict | None = None, annotations: dict | None = None,
               artifact_type: str | None = None, config_media_type: str | None = None) -> Pushed:
    """Push a config, ``layers`` layers and an image manifest referencing them."""
    docker = media_type == DOCKER_MANIFEST
    config_data = canonical({"architecture": "amd64", "os": "linux", "seed": seed or "x",
                             "rootfs": {"type": "layers", "diff_ids": []}})
    config_type = config_media_type or (DOCKER_CONFIG if docker else OCI_CONFIG)
    push_blob(api, repo, config_data)
    layer_descs = []
    for i in range(layers):
        layer = f"layer {i} of {seed} {repo}".encode()
        push_blob(api, repo, layer)
        layer_descs.append(descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer))
    data = image_manifest(descriptor(config_type, config_data), layer_descs, media_type=media_type,
                          subject=subject, annotations=annotations, artifact_type=artifact_type)
    return push_manifest(api, repo, data, media_type, reference=tag)


def push_index(api, repo: str, children: list[Pushed], *, tag: str | None = None,
               media_type: str = OCI_INDEX, subject: dict | None = None, annotations: dict | None = None,
               artifact_type: str | None = None) -> Pushed:
    """Push an index (or Docker manifest list) of already pushed manifests."""
    document: dict = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    document["manifests"] = [
        c.descriptor(platform={"architecture": "amd64", "os": "linux"}) for c in children
    ]
    if subject is not None:
        document["subject"] = subject
    if annotations is not None:
        document["annotations"] = annotations
    return push_manifest(api, repo, canonical(document), media_type, reference=tag)


def push_artifact(api, repo: str, artifact_type: str, *, subject: Pushed | dict | None = None,
                  annotations: dict | None = None, tag: str | None = None, payload: bytes | None = None) -> Pushed:
    """An OCI artifact (image-spec "Guidelines for Artifact Usage"): ``artifactType`` set,
    the empty config ``application/vnd.oci.empty.v1+json`` (blob ``{}``), one layer."""
    push_blob(api, repo, EMPTY_JSON)
    payload = payload if payload is not None else f"{artifact_type} {annotations} {repo}".encode()
    push_blob(api, repo, payload)
    if isinstance(subject, Pushed):
        subject = subject.descriptor()
    data = image_manifest(
        descriptor(OCI_EMPTY, EMPTY_JSON),
        [descriptor("application/octet-stream", payload)],
        artifact_type=artifact_type, subject=subject, annotations=annotations,
    )
    return push_manifest(api, repo, data, OCI_MANIFEST, reference=tag)


def get_manifest(api, repo: str, reference: str, method: str = "GET", **kwargs):
    return api(method, f"/v2/{repo}/manifests/{reference}", **kwargs)


def referrers_tag(digest: str) -> str:
    """Referrers Tag Schema: ``<alg truncated to 32>-<encoded truncated to 64>``."""
    algorithm, encoded = digest.split(":", 1)
    return re.sub(r"[^a-zA-Z0-9._-]", "-", f"{algorithm[:32]}-{encoded[:64]}")


def follow_links(api, path: str, key: str, max_pages: int = 10_000) -> tuple[list[str], list]:
    """Every item of a paginated list, following ``Link: <...>; rel="next"``; also the responses."""
    items: list[str] = []
    responses = []
    url: str | None = path
    while url is not None:
        assert len(responses) < max_pages, "pagination does not end"
        resp = api("GET", url)
        assert resp.status_code == 200, (resp.status_code, resp.content[:300])
        responses.append(resp)
        items.extend(resp.json()[key])
        url = next_link(resp)
    return items, responses


_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def next_link(resp) -> str | None:
    link = resp.headers.get("Link")
    if link is None:
        return None
    match = _LINK.search(link)
    assert match, f"malformed Link header {link!r}"
    return match.group(1)


def byte_sorted(items) -> list[str]:
    return sorted(items, key=lambda s: s.encode())

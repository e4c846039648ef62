"""Manifests: ``GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>`` over real HTTP.

Rules from the OCI distribution-spec ("Pulling manifests", "Pushing Manifests",
"Pushing Manifests with Subject", "Deleting tags", "Deleting Manifests") and the
image-spec (manifest.md, image-index.md), plus the issue's requirements
(byte-for-byte storage, Accept never changing the answer, schema 1 refused, 4 MiB
limit, foreign layers).
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from api.helpers import (
    API_VERSION, DOCKER_CONFIG, DOCKER_FOREIGN_LAYER, DOCKER_LAYER, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, EMPTY_DIGEST, EMPTY_JSON, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER,
    OCI_MANIFEST, OCI_NONDIST_LAYER, assert_error, canonical, descriptor, get_manifest, image_manifest,
    push_artifact, push_blob, push_image, push_index, push_manifest, put_manifest, sha256,
)

MAX_MANIFEST = 4 * 1024 * 1024


def content_type(resp) -> str:
    return resp.headers["Content-Type"]


def assert_served(api, repo: str, reference: str, data: bytes, media_type: str) -> None:
    """GET returns exactly ``data`` with its type and digest; HEAD agrees with GET."""
    get = get_manifest(api, repo, reference)
    assert get.status_code == 200, (get.status_code, get.content[:300])
    assert get.content == data
    assert content_type(get) == media_type
    assert get.headers["Docker-Content-Digest"] == sha256(data)
    assert get.headers["Content-Length"] == str(len(data))
    head = get_manifest(api, repo, reference, method="HEAD")
    assert head.status_code == 200
    assert head.content == b""
    for header in ("Content-Type", "Content-Length", "Docker-Content-Digest"):
        assert head.headers[header] == get.headers[header], header


def small_image(api, repo: str, seed: str = "s") -> tuple[dict, dict]:
    """Push a config and a layer to ``repo``; their descriptors."""
    config = canonical({"architecture": "amd64", "os": "linux", "seed": seed})
    layer = f"layer {seed} {repo}".encode()
    push_blob(api, repo, config)
    push_blob(api, repo, layer)
    return descriptor(OCI_CONFIG, config), descriptor(OCI_LAYER, layer)


# -- API version ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_version_check(api, method):
    """Spec "Determining Support" (end-1): /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0."""
    resp = api(method, "/v2/")
    assert resp.status_code == 200
    assert resp.headers[API_VERSION[0]] == API_VERSION[1]
    if method == "HEAD":
        assert resp.content == b""


def test_version_header_on_errors(api, repo):
    """Issue: Docker-Distribution-API-Version is on every response, errors included."""
    for method, path in [("GET", f"/v2/{repo}/manifests/nope"), ("HEAD", f"/v2/{repo}/manifests/nope"),
                         ("GET", "/v2/NOPE/tags/list"), ("GET", "/v3/"), ("PUT", "/v2/")]:
        resp = api(method, path)
        assert resp.status_code >= 400
        assert resp.headers[API_VERSION[0]] == API_VERSION[1], (method, path)


# -- push and pull ---------------------------------------------------------------------------------


def test_push_by_tag_pull_by_tag_and_digest(api, repo):
    """Spec "Pushing Manifests": 201 with Location (a pullable URL) and Docker-Content-Digest;
    "Pulling manifests": GET/HEAD by tag and by digest answer 200 with the manifest and its digest."""
    config, layer = small_image(api, repo)
    data = image_manifest(config, [layer])
    resp = put_manifest(api, repo, "v1", data, OCI_MANIFEST)
    assert resp.status_code == 201, resp.content
    digest = sha256(data)
    assert resp.headers["Docker-Content-Digest"] == digest
    assert resp.headers["Location"]
    assert api("GET", resp.headers["Location"]).content == data
    assert_served(api, repo, "v1", data, OCI_MANIFEST)
    assert_served(api, repo, digest, data, OCI_MANIFEST)


def test_push_by_digest(api, repo):
    """Spec "Pushing Manifests": a manifest PUT by its digest is stored and pullable by that digest."""
    config, layer = small_image(api, repo)
    data = image_manifest(config, [layer])
    push_manifest(api, repo, data, OCI_MANIFEST)
    assert_served(api, repo, sha256(data), data, OCI_MANIFEST)


def test_bytes_preserved_exactly(api, repo):
    """Spec "Pushing Manifests": the registry MUST store the manifest in the exact byte representation
    provided; Docker-Content-Digest is the sha256 of those bytes."""
    config, layer = small_image(api, repo)
    data = (
        '\n  {  "layers" :[\n\t' + json.dumps(layer, indent=7) + '  ] ,\r\n'
        '"config":' + json.dumps(config, separators=(" ,", " :  ")) + ',\n'
        '  "annotations": {"z": "\\u00e9t\\u00e9", "a": "caf\u00e9", "e": "\\/"},'
        '"schemaVersion"  :  2 , "mediaType":"' + OCI_MANIFEST + '"}\n\n   '
    ).encode()
    resp = put_manifest(api, repo, "odd", data, OCI_MANIFEST)
    assert resp.status_code == 201, resp.content
    assert resp.headers["Docker-Content-Digest"] == sha256(data)
    assert_served(api, repo, "odd", data, OCI_MANIFEST)
    assert_served(api, repo, sha256(data), data, OCI_MANIFEST)


def test_push_same_manifest_twice_is_idempotent(api, repo):
    """Spec "Pushing Manifests": re-pushing identical bytes succeeds (201) with the same digest."""
    config, layer = small_image(api, repo)
    data = image_manifest(config, [layer])
    first = push_manifest(api, repo, data, OCI_MANIFEST, reference="t")
    second = push_manifest(api, repo, data, OCI_MANIFEST, reference="t")
    assert first.response.headers["Docker-Content-Digest"] == second.response.headers["Docker-Content-Digest"]
    assert_served(api, repo, "t", data, OCI_MANIFEST)


def test_tag_moves_to_new_manifest(api, repo):
    """Spec "Pushing Manifests": pushing another manifest to an existing tag repoints the tag;
    the old manifest is still there by digest."""
    old = push_image(api, repo, tag="latest", seed="old")
    new = push_image(api, repo, tag="latest", seed="new")
    assert old.digest != new.digest
    assert_served(api, repo, "latest", new.data, OCI_MANIFEST)
    assert_served(api, repo, old.digest, old.data, OCI_MANIFEST)


# -- media types -------------------------------------------------------------------------------------


def test_oci_image_manifest(api, repo):
    """image-spec manifest.md: an OCI image manifest is stored and served as application/vnd.oci.image.manifest.v1+json."""
    pushed = push_image(api, repo, tag="oci", layers=2)
    assert_served(api, repo, "oci", pushed.data, OCI_MANIFEST)


def test_docker_schema2_manifest(api, repo):
    """Docker Image Manifest V2 Schema 2 is accepted and served with its own media type."""
    pushed = push_image(api, repo, tag="docker", media_type=DOCKER_MANIFEST, layers=2)
    assert pushed.document["config"]["mediaType"] == DOCKER_CONFIG
    assert_served(api, repo, "docker", pushed.data, DOCKER_MANIFEST)


def test_oci_index(api, repo):
    """image-spec image-index.md: an index of manifests in the repository is accepted and served as
    application/vnd.oci.image.index.v1+json."""
    a = push_image(api, repo, seed="a")
    b = push_image(api, repo, seed="b", media_type=DOCKER_MANIFEST)
    index = push_index(api, repo, [a, b], tag="multi")
    assert_served(api, repo, "multi", index.data, OCI_INDEX)
    assert_served(api, repo, index.digest, index.data, OCI_INDEX)


def test_docker_manifest_list(api, repo):
    """Docker manifest list (application/vnd.docker.distribution.manifest.list.v2+json) is accepted and served."""
    a = push_image(api, repo, seed="a", media_type=DOCKER_MANIFEST)
    b = push_image(api, repo, seed="b", media_type=DOCKER_MANIFEST)
    index = push_index(api, repo, [a, b], tag="list", media_type=DOCKER_MANIFEST_LIST)
    assert_served(api, repo, "list", index.data, DOCKER_MANIFEST_LIST)


def test_nested_index(api, repo):
    """image-spec image-index.md: an index may list other indexes."""
    inner = push_index(api, repo, [push_image(api, repo)])
    outer = push_index(api, repo, [inner], tag="outer")
    assert_served(api, repo, "outer", outer.data, OCI_INDEX)


def test_oci_artifact_with_empty_config(api, repo):
    """image-spec manifest.md "Guidelines for Artifact Usage": artifactType with the empty config
    application/vnd.oci.empty.v1+json (blob `{}`) is accepted and served unchanged."""
    pushed = push_artifact(api, repo, "application/vnd.example.sbom.v1", tag="sbom",
                           annotations={"org.example": "x"})
    document = pushed.document
    assert document["config"] == {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2}
    assert sha256(EMPTY_JSON) == EMPTY_DIGEST
    assert_served(api, repo, "sbom", pushed.data, OCI_MANIFEST)
    blob = api("GET", f"/v2/{repo}/blobs/{EMPTY_DIGEST}", allow_redirects=True)
    assert blob.status_code == 200 and blob.content == EMPTY_JSON


def test_artifact_without_layers(api, repo):
    """image-spec manifest.md: an artifact may use the empty descriptor as its only layer."""
    push_blob(api, repo, EMPTY_JSON)
    empty = descriptor(OCI_EMPTY, EMPTY_JSON)
    data = image_manifest(empty, [empty], artifact_type="application/vnd.example.thing")
    pushed = push_manifest(api, repo, data, OCI_MANIFEST, reference="thing")
    assert_served(api, repo, "thing", pushed.data, OCI_MANIFEST)


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, OCI_INDEX])
def test_no_media_type_field_uses_content_type(api, repo, media_type):
    """Spec "Pushing Manifests": mediaType is only SHOULD; without it the type is the pushed
    Content-Type, and GET answers with that Content-Type ("Pulling manifests")."""
    if media_type == OCI_MANIFEST:
        config, layer = small_image(api, repo)
        data = image_manifest(config, [layer], declare_media_type=False)
    else:
        child = push_image(api, repo)
        data = canonical({"schemaVersion": 2, "manifests": [child.descriptor()]})
    resp = put_manifest(api, repo, "untyped", data, media_type)
    assert resp.status_code == 201, resp.content
    assert_served(api, repo, "untyped", data, media_type)


def test_no_media_type_field_served_as_pushed_content_type(api, repo):
    """Spec "Pulling manifests": the Content-Type SHOULD match what the client pushed as the manifest's
    Content-Type, even when the body (no mediaType; an extra, ignorable "manifests" key, image-spec:
    unknown properties are ignored) could be mistaken for another type."""
    config, layer = small_image(api, repo)
    data = canonical({"schemaVersion": 2, "config": config, "layers": [layer], "manifests": []})
    resp = put_manifest(api, repo, "ambiguous", data, OCI_MANIFEST)
    assert resp.status_code == 201, resp.content
    assert_served(api, repo, "ambiguous", data, OCI_MANIFEST)


@pytest.mark.parametrize("declare", [True, False])
def test_content_type_parameters_ignored(api, repo, declare):
    """Spec "Pushing Manifests": the registry SHOULD ignore parameters on Content-Type
    (`; charset=utf-8`); GET answers the bare media type ("SHOULD NOT include parameters")."""
    config, layer = small_image(api, repo)
    data = image_manifest(config, [layer], declare_media_type=declare)
    resp = put_manifest(api, repo, "params", data, OCI_MANIFEST + "; charset=utf-8")
    assert resp.status_code == 201, resp.content
    assert resp.headers["Docker-Content-Digest"] == sha256(data)
    assert_served(api, repo, "params", data, OCI_MANIFEST)


@pytest.mark.parametrize("content_type,schema_version", [
    (DOCKER_SCHEMA1_SIGNED, 1),
    (DOCKER_SCHEMA1, 1),
    ("application/json", 1),
    (OCI_MANIFEST, 1),
])
def test_docker_schema1_rejected(api, repo, content_type, schema_version):
    """Issue: Docker schema 1 (v1+prettyjws, v1+json or schemaVersion 1) is refused with
    400 MANIFEST_INVALID and a message naming schema 1."""
    document = {
        "schemaVersion": schema_version, "name": repo, "tag": "old", "architecture": "amd64",
        "fsLayers": [{"blobSum": EMPTY_DIGEST}], "history": [{"v1Compatibility": "{}"}],
    }
    if content_type == DOCKER_SCHEMA1_SIGNED:
        document["signatures"] = [{"header": {"alg": "ES256"}, "signature": "x", "protected": "y"}]
    resp = put_manifest(api, repo, "old", canonical(document), content_type)
    error = assert_error(resp, 400, "MANIFEST_INVALID")
    assert "schema 1" in error["message"].lower()
    assert_error(get_manifest(api, repo, "old"), 404, "MANIFEST_UNKNOWN")


# -- Accept never changes the answer --------------------------------------------------------------------


@pytest.mark.parametrize("media_type,accept", [
    (OCI_MANIFEST, DOCKER_MANIFEST),
    (DOCKER_MANIFEST, OCI_MANIFEST),
    (OCI_MANIFEST, OCI_INDEX),
    (OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v1+prettyjws"),
    (OCI_MANIFEST, "text/plain;q=0.1, image/png"),
])
def test_accept_never_changes_bytes(api, repo, media_type, accept):
    """Issue: Accept never changes which bytes are served: GET with Accept listing only another type
    still answers 200 with the stored bytes and their true Content-Type; HEAD agrees with GET."""
    pushed = push_image(api, repo, tag="t", media_type=media_type)
    for reference in ("t", pushed.digest):
        get = get_manifest(api, repo, reference, headers={"Accept": accept})
        assert get.status_code == 200, get.content[:300]
        assert get.content == pushed.data
        assert content_type(get) == media_type
        assert get.headers["Docker-Content-Digest"] == pushed.digest
        head = get_manifest(api, repo, reference, method="HEAD", headers={"Accept": accept})
        assert head.status_code == 200
        for header in ("Content-Type", "Content-Length", "Docker-Content-Digest"):
            assert head.headers[header] == get.headers[header]


def test_accept_index_only_on_image(api, repo):
    """Issue: an index pushed is served as an index even when Accept asks only for image manifests."""
    index = push_index(api, repo, [push_image(api, repo)], tag="i")
    get = get_manifest(api, repo, "i", headers={"Accept": OCI_MANIFEST})
    assert get.status_code == 200 and get.content == index.data and content_type(get) == OCI_INDEX


# -- PUT validation ---------------------------------------------------------------------------------------


def _valid_document(config: dict, layer: dict) -> dict:
    return {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}


INVALID_BODIES = {
    "not json": lambda c, l: b"{this is not json",
    "truncated json": lambda c, l: canonical(_valid_document(c, l))[:-1],
    "json array": lambda c, l: canonical([_valid_document(c, l)]),
    "json string": lambda c, l: b'"manifest"',
    "empty body": lambda c, l: b"",
    "not utf-8": lambda c, l: b'{"schemaVersion": 2, "x": "\xff\xfe"}',
    "size as string": lambda c, l: canonical({**_valid_document(c, l), "layers": [{**l, "size": str(l["size"])}]}),
    "negative size": lambda c, l: canonical({**_valid_document(c, l), "layers": [{**l, "size": -1}]}),
    "config size as string": lambda c, l: canonical({**_valid_document(c, l), "config": {**c, "size": "7"}}),
    "layers not a list": lambda c, l: canonical({**_valid_document(c, l), "layers": l}),
    "layer not an object": lambda c, l: canonical({**_valid_document(c, l), "layers": ["sha256:00"]}),
    "malformed layer digest": lambda c, l: canonical({**_valid_document(c, l), "layers": [{**l, "digest": "sha256:xyz"}]}),
    "digest without algorithm": lambda c, l: canonical({**_valid_document(c, l), "layers": [{**l, "digest": l["digest"][7:]}]}),
    "malformed config digest": lambda c, l: canonical({**_valid_document(c, l), "config": {**c, "digest": 12}}),
    "missing config": lambda c, l: canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [l]}),
    "config not an object": lambda c, l: canonical({**_valid_document(c, l), "config": "x"}),
    "mediaType not a string": lambda c, l: canonical({**_valid_document(c, l), "layers": [{**l, "mediaType": 5}]}),
    "annotations not strings": lambda c, l: canonical({**_valid_document(c, l), "annotations": {"a": 1}}),
    "schemaVersion 3": lambda c, l: canonical({**_valid_document(c, l), "schemaVersion": 3}),
    "schemaVersion as string": lambda c, l: canonical({**_valid_document(c, l), "schemaVersion": "2"}),
}


_SHARED: dict[str, tuple[str, dict, dict]] = {}


def shared_blobs(api) -> tuple[str, dict, dict]:
    """One repository per server with a config and a layer, for the many read-only validation cases."""
    if api.url not in _SHARED:
        repo = f"test/shared-{uuid.uuid4().hex[:12]}"
        _SHARED[api.url] = (repo, *small_image(api, repo))
    return _SHARED[api.url]


@pytest.mark.parametrize("case", sorted(INVALID_BODIES))
def test_invalid_manifest_rejected(api, case):
    """Spec "Pushing Manifests" / Error Codes code-6: a body that is not a valid manifest (not JSON, not
    an object, wrong field types, malformed digests) is 400 MANIFEST_INVALID, and nothing is stored."""
    repo, config, layer = shared_blobs(api)
    data = INVALID_BODIES[case](config, layer)
    resp = put_manifest(api, repo, "bad", data, OCI_MANIFEST)
    assert_error(resp, 400, "MANIFEST_INVALID")
    assert_error(get_manifest(api, repo, "bad"), 404, "MANIFEST_UNKNOWN")


def test_index_with_invalid_manifests_field(api, repo):
    """image-spec image-index.md: `manifests` must be a list of descriptors; otherwise 400 MANIFEST_INVALID."""
    for manifests in ({"a": 1}, ["x"], [{"mediaType": OCI_MANIFEST, "digest": "sha256:1", "size": 1}], None):
        document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        assert_error(put_manifest(api, repo, "bad", canonical(document), OCI_INDEX), 400, "MANIFEST_INVALID")


@pytest.mark.parametrize("declared,content_type", [
    (OCI_INDEX, OCI_MANIFEST),
    (OCI_MANIFEST, DOCKER_MANIFEST),
    (DOCKER_MANIFEST, OCI_MANIFEST),
])
def test_media_type_contradicting_content_type(api, repo, declared, content_type):
    """Spec "Pushing Manifests": a manifest's mediaType MUST equal the Content-Type it is pushed with;
    a contradiction is 400 MANIFEST_INVALID."""
    config, layer = small_image(api, repo)
    data = canonical({**_valid_document(config, layer), "mediaType": declared})
    assert_error(put_manifest(api, repo, "x", data, content_type), 400, "MANIFEST_INVALID")


def test_put_by_wrong_digest(api, repo):
    """Spec "Pushing Manifests" / code-4: PUT by a digest that is not the body's digest is 400 DIGEST_INVALID."""
    config, layer = small_image(api, repo)
    data = image_manifest(config, [layer])
    wrong = sha256(data + b" ")
    assert_error(put_manifest(api, repo, wrong, data, OCI_MANIFEST), 400, "DIGEST_INVALID")
    assert_error(get_manifest(api, repo, wrong), 404, "MANIFEST_UNKNOWN")
    assert_error(get_manifest(api, repo, sha256(data)), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("missing", ["config", "layer"])
def test_missing_blob(api, repo, missing):
    """Spec Error Codes code-5: a config or layer not pushed is 400 MANIFEST_BLOB_UNKNOWN."""
    config = canonical({"os": "linux", "missing": missing})
    layer = f"layer {repo}".encode()
    push_blob(api, repo, layer if missing == "config" else config)
    data = image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)])
    assert_error(put_manifest(api, repo, "t", data, OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_error(get_manifest(api, repo, "t"), 404, "MANIFEST_UNKNOWN")


def test_blob_in_other_repository_only(api, repo):
    """Spec code-5: blobs must be in *this* repository; a blob pushed only to another one is
    400 MANIFEST_BLOB_UNKNOWN."""
    other = repo + "-other"
    config, layer = small_image(api, other)
    data = image_manifest(config, [layer])
    assert_error(put_manifest(api, repo, "t", data, OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")


def test_index_child_unknown(api, repo):
    """Spec code-5: an index listing a manifest not in the repository is 400 MANIFEST_BLOB_UNKNOWN,
    also when that manifest exists in another repository."""
    other = repo + "-other"
    child = push_image(api, other)
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child.descriptor()]}
    assert_error(put_manifest(api, repo, "i", canonical(document), OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")
    never = {"mediaType": OCI_MANIFEST, "digest": sha256(b"never pushed"), "size": 12}
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [never]}
    assert_error(put_manifest(api, repo, "i", canonical(document), OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("layer", [
    {"mediaType": DOCKER_FOREIGN_LAYER, "digest": sha256(b"windows base"), "size": 12,
     "urls": ["https://example.com/base.tar.gz"]},
    {"mediaType": DOCKER_FOREIGN_LAYER, "digest": sha256(b"foreign, no urls"), "size": 16},
    {"mediaType": OCI_NONDIST_LAYER, "digest": sha256(b"nondistributable"), "size": 16},
    {"mediaType": OCI_LAYER, "digest": sha256(b"elsewhere"), "size": 9, "urls": ["https://example.com/l"]},
], ids=["foreign+urls", "foreign", "nondistributable", "urls"])
def test_non_distributable_layers_need_not_be_present(api, repo, layer):
    """Issue: foreign and non-distributable layers (and any layer with `urls`) are accepted without the
    blob being in the repository."""
    config, regular = small_image(api, repo)
    media_type = DOCKER_MANIFEST if layer["mediaType"] == DOCKER_FOREIGN_LAYER else OCI_MANIFEST
    if media_type == DOCKER_MANIFEST:
        config = {**config, "mediaType": DOCKER_CONFIG}
        regular = {**regular, "mediaType": DOCKER_LAYER}
    data = image_manifest(config, [layer, regular], media_type=media_type)
    pushed = push_manifest(api, repo, data, media_type, reference="win")
    assert_served(api, repo, "win", pushed.data, media_type)


# -- size limit -----------------------------------------------------------------------------------------------


def _padded(api, repo, total: int) -> bytes:
    config, layer = small_image(api, repo)
    base = image_manifest(config, [layer], annotations={"pad": ""})
    data = base.replace(b'"pad":""', b'"pad":"' + b"x" * (total - len(base)) + b'"')
    assert len(data) == total
    json.loads(data)
    return data


def test_manifest_of_4mib_accepted(api, repo):
    """Spec "Pushing Manifests": registries SHOULD accept manifests of at least 4 megabytes."""
    data = _padded(api, repo, MAX_MANIFEST)
    push_manifest(api, repo, data, OCI_MANIFEST, reference="big")
    get = get_manifest(api, repo, "big")
    assert get.status_code == 200 and get.content == data


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_manifest_over_4mib_is_413(api, repo, chunked):
    """Spec "Pushing Manifests": a manifest over the limit (4 MiB) is 413 Payload Too Large, whether the
    body is sized by Content-Length or sent chunked."""
    data = _padded(api, repo, MAX_MANIFEST + 1)
    body = data if not chunked else (data[i:i + 65536] for i in range(0, len(data), 65536))
    resp = put_manifest(api, repo, "big", body, OCI_MANIFEST)
    assert_error(resp, 413)
    with requests.Session() as fresh:  # the connection itself: test_connection_usable_after_413
        resp = fresh.get(f"{api.url}/v2/{repo}/manifests/big")
    assert_error(resp, 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_connection_usable_after_413(api, repo, chunked):
    """RFC 9112 §9.3/§9.6: a 413 answered with `Connection: keep-alive` leaves the connection usable,
    so the client's next request on it gets an answer (a server that did not read the body must
    close the connection, saying `Connection: close`, or discard the body)."""
    data = _padded(api, repo, MAX_MANIFEST + 1)
    for attempt in range(5):
        body = data if not chunked else (data[i:i + 65536] for i in range(0, len(data), 65536))
        resp = put_manifest(api, repo, "big", body, OCI_MANIFEST)
        assert resp.status_code == 413
        connection = resp.headers.get("Connection")
        try:
            after = api("GET", "/v2/")  # on the same connection, if the server kept it alive
        except requests.ConnectionError as e:
            pytest.fail(f"attempt {attempt}: the 413 said Connection: {connection}, yet the next request "
                        f"on that connection failed: {e}")
        assert after.status_code == 200


# -- tags on push, subject -------------------------------------------------------------------------------


def _header_values(resp, name: str) -> list[str]:
    values = resp.raw.headers.getlist(name) if hasattr(resp.raw, "headers") else [resp.headers[name]]
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def test_put_by_digest_with_tags(api, repo):
    """Spec "Pushing Manifests" (end-7b): PUT by digest with `?tag=` creates each tag and answers an
    OCI-Tag header for each accepted tag."""
    config, layer = small_image(api, repo)
    data = image_manifest(config, [layer])
    digest = sha256(data)
    resp = api("PUT", f"/v2/{repo}/manifests/{digest}?tag=a&tag=b&tag=1.2.3",
               data=data, headers={"Content-Type": OCI_MANIFEST})
    assert resp.status_code == 201, resp.content
    assert resp.headers["Docker-Content-Digest"] == digest
    assert sorted(_header_values(resp, "OCI-Tag")) == ["1.2.3", "a", "b"]
    for tag in ("a", "b", "1.2.3"):
        assert_served(api, repo, tag, data, OCI_MANIFEST)
    assert api("GET", f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["1.2.3", "a", "b"]}


def test_put_by_digest_with_invalid_tag(api, repo):
    """Spec "Pulling manifests" tag grammar: an invalid `?tag=` is a 400 and nothing is tagged."""
    config, layer = small_image(api, repo)
    data = image_manifest(config, [layer])
    resp = api("PUT", f"/v2/{repo}/manifests/{sha256(data)}?tag=ok&tag=-bad",
               data=data, headers={"Content-Type": OCI_MANIFEST})
    assert_error(resp, 400)
    assert_error(get_manifest(api, repo, "ok"), 404, "MANIFEST_UNKNOWN")


def test_subject_recorded_with_oci_subject_header(api, repo):
    """Spec "Pushing Manifests with Subject": a manifest with `subject` is answered with
    `OCI-Subject: <subject digest>`; the subject need not exist in the repository."""
    absent = {"mediaType": OCI_MANIFEST, "digest": sha256(b"not pushed"), "size": 10}
    pushed = push_artifact(api, repo, "application/vnd.example.sig", subject=absent)
    assert pushed.response.headers["OCI-Subject"] == absent["digest"]
    assert_served(api, repo, pushed.digest, pushed.data, OCI_MANIFEST)


def test_no_oci_subject_without_subject(api, repo):
    """Spec "Pushing Manifests with Subject": OCI-Subject only answers a manifest that has a subject."""
    pushed = push_image(api, repo)
    assert "OCI-Subject" not in pushed.response.headers


def test_index_with_subject(api, repo):
    """Spec "Pushing Manifests with Subject": an index may carry `subject` too (image-index.md)."""
    subject = push_image(api, repo, seed="subject")
    index = push_index(api, repo, [push_image(api, repo, seed="c")], subject=subject.descriptor())
    assert index.response.headers["OCI-Subject"] == subject.digest


# -- delete -----------------------------------------------------------------------------------------------


def test_delete_by_digest_removes_manifest_and_its_tags(api, repo):
    """Spec "Deleting Manifests": 202; afterwards GET by the digest and by every tag pointing at it is
    404 MANIFEST_UNKNOWN; a tag pointing at another manifest survives."""
    gone = push_image(api, repo, seed="gone")
    kept = push_image(api, repo, seed="kept", tag="kept")
    for tag in ("one", "two"):
        push_manifest(api, repo, gone.data, OCI_MANIFEST, reference=tag)
    resp = api("DELETE", f"/v2/{repo}/manifests/{gone.digest}")
    assert resp.status_code == 202, resp.content
    for reference in (gone.digest, "one", "two"):
        assert_error(get_manifest(api, repo, reference), 404, "MANIFEST_UNKNOWN")
        head = get_manifest(api, repo, reference, method="HEAD")
        assert head.status_code == 404 and head.content == b""
    assert_served(api, repo, "kept", kept.data, OCI_MANIFEST)
    assert api("GET", f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["kept"]}
    assert_error(api("DELETE", f"/v2/{repo}/manifests/{gone.digest}"), 404, "MANIFEST_UNKNOWN")


def test_delete_by_tag_removes_only_the_tag(api, repo):
    """Spec "Deleting tags": 202; GET by the tag is 404 afterwards, the manifest remains by digest and
    under its other tags."""
    pushed = push_image(api, repo, tag="a")
    push_manifest(api, repo, pushed.data, OCI_MANIFEST, reference="b")
    resp = api("DELETE", f"/v2/{repo}/manifests/a")
    assert resp.status_code == 202, resp.content
    assert_error(get_manifest(api, repo, "a"), 404, "MANIFEST_UNKNOWN")
    assert_served(api, repo, pushed.digest, pushed.data, OCI_MANIFEST)
    assert_served(api, repo, "b", pushed.data, OCI_MANIFEST)
    assert api("GET", f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["b"]}
    assert_error(api("DELETE", f"/v2/{repo}/manifests/a"), 404, "MANIFEST_UNKNOWN")


def test_repush_after_delete(api, repo):
    """Spec "Deleting Manifests" then "Pushing Manifests": a deleted manifest can be pushed again."""
    pushed = push_image(api, repo, tag="t")
    assert api("DELETE", f"/v2/{repo}/manifests/{pushed.digest}").status_code == 202
    push_manifest(api, repo, pushed.data, OCI_MANIFEST, reference="t")
    assert_served(api, repo, "t", pushed.data, OCI_MANIFEST)


# -- unknown and invalid references -------------------------------------------------------------------------


def test_unknown_manifest(api, repo):
    """Spec "Pulling manifests": a manifest not in the repository is 404 MANIFEST_UNKNOWN (GET, HEAD
    without a body, DELETE)."""
    push_image(api, repo, tag="exists")
    for reference in ("missing", sha256(b"missing")):
        assert_error(get_manifest(api, repo, reference), 404, "MANIFEST_UNKNOWN")
        head = get_manifest(api, repo, reference, method="HEAD")
        assert head.status_code == 404 and head.content == b""
        assert_error(api("DELETE", f"/v2/{repo}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")


def test_manifest_in_unknown_repository(api, repo):
    """Spec "Pushing Manifests": an attempt to pull from a nonexistent repository is 404."""
    for reference in ("latest", sha256(b"x")):
        error = assert_error(get_manifest(api, repo, reference), 404)
        assert error["code"] in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")


def test_manifest_of_other_repository_unknown(api, repo):
    """Spec "Pulling manifests": a manifest pushed to another repository is unknown in this one."""
    pushed = push_image(api, repo + "-other")
    push_image(api, repo)
    assert_error(get_manifest(api, repo, pushed.digest), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("tag", ["-bad", ".bad", "a" * 129, "bad!", "b%C3%A9", "a+b", "%20a", "a%00"])
def test_invalid_tag(api, tag):
    """Spec "Pulling manifests": a tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}; anything else is 400
    on GET, HEAD, PUT and DELETE."""
    repo, config, layer = shared_blobs(api)
    data = image_manifest(config, [layer])
    for method in ("GET", "PUT", "DELETE"):
        kwargs = {"data": data, "headers": {"Content-Type": OCI_MANIFEST}} if method == "PUT" else {}
        assert_error(api(method, f"/v2/{repo}/manifests/{tag}", **kwargs), 400)
    head = api("HEAD", f"/v2/{repo}/manifests/{tag}")
    assert head.status_code == 400 and head.content == b""


def test_longest_valid_tag(api, repo):
    """Spec "Pulling manifests": a tag may be 128 characters long."""
    tag = "_" + "a" * 127
    pushed = push_image(api, repo, tag=tag)
    assert_served(api, repo, tag, pushed.data, OCI_MANIFEST)


@pytest.mark.parametrize("reference", ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256:" + "0" * 65])
def test_invalid_digest_reference(api, reference):
    """Spec "Pulling manifests" / code-4: a reference that is neither a tag nor a valid digest is 400
    (GET, PUT, DELETE)."""
    repo, config, layer = shared_blobs(api)
    assert_error(get_manifest(api, repo, reference), 400)
    assert_error(put_manifest(api, repo, reference, image_manifest(config, [layer]), OCI_MANIFEST), 400)
    assert_error(api("DELETE", f"/v2/{repo}/manifests/{reference}"), 400)

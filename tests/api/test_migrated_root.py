"""Content already in a root written by Distribution, including Docker schema 1
manifests we refuse to accept new, is served unchanged (issue: "schema 1
manifests already in a migrated root are still served")."""

import hashlib
import json

import pytest
import requests

from procs import RegistryServer

SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def _schema1_manifest() -> bytes:
    return json.dumps({
        "schemaVersion": 1,
        "name": "old/app",
        "tag": "legacy",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
        "history": [{"v1Compatibility": "{\"id\":\"x\"}"}],
        "signatures": [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": "cHJvdA"}],
    }, indent=3).encode()


def _write(root, relative: str, data: bytes) -> None:
    path = root / "docker/registry/v2" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    root = tmp_path_factory.mktemp("migrated-root")
    manifest = _schema1_manifest()
    hexdigest = hashlib.sha256(manifest).hexdigest()
    digest = f"sha256:{hexdigest}"
    _write(root, f"blobs/sha256/{hexdigest[:2]}/{hexdigest}/data", manifest)
    _write(root, f"repositories/old/app/_manifests/revisions/sha256/{hexdigest}/link", digest.encode())
    _write(root, "repositories/old/app/_manifests/tags/legacy/current/link", digest.encode())
    _write(root, f"repositories/old/app/_manifests/tags/legacy/index/sha256/{hexdigest}/link", digest.encode())
    server = RegistryServer(root, tmp_path_factory.mktemp("migrated-run"), workers=1).start()
    yield server, manifest, digest
    server.stop()


@pytest.mark.parametrize("reference", ["legacy", "digest"])
def test_schema1_is_served_byte_for_byte(migrated, reference):
    server, manifest, digest = migrated
    ref = digest if reference == "digest" else reference
    got = requests.get(f"{server.url}/v2/old/app/manifests/{ref}",
                       headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    head = requests.head(f"{server.url}/v2/old/app/manifests/{ref}")
    assert got.status_code == 200
    assert got.content == manifest
    assert got.headers["Content-Type"] == SCHEMA1_SIGNED
    assert got.headers["Docker-Content-Digest"] == digest
    assert head.status_code == 200
    for name in ("Content-Type", "Content-Length", "Docker-Content-Digest"):
        assert head.headers[name] == got.headers[name]
    assert requests.get(f"{server.url}/v2/old/app/tags/list").json() == {"name": "old/app", "tags": ["legacy"]}
    assert requests.get(f"{server.url}/v2/_catalog").json() == {"repositories": ["old/app"]}


def test_schema1_push_is_refused_with_a_clear_message(migrated):
    server, manifest, _ = migrated
    response = requests.put(f"{server.url}/v2/old/app/manifests/again", data=manifest,
                            headers={"Content-Type": SCHEMA1_SIGNED})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "MANIFEST_INVALID"
    assert "schema 1" in error["message"]

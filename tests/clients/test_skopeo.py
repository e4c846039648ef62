"""skopeo (containers/image) against the registry: push, pull, inspect, tags, delete.

skopeo pushes each blob as POST + one PATCH with Content-Length (the whole
blob) + PUT ?digest= with an empty body, and sends all manifest media types
as separate Accept header lines.
"""

import hashlib
import json

import pytest
import requests

from imagebuild import OCI_INDEX, OCI_MANIFEST, blob, build_image, build_index, read_layout
from procs import SkopeoError, skopeo

MiB = 1024 * 1024
TLS = "--tls-verify=false"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """3 layers, one ~40 MiB, so a large blob goes through the upload path."""
    return build_image(tmp_path_factory.mktemp("img") / "oci",
                       layer_sizes=[40 * MiB, 1 * MiB, 3000], seed="skopeo")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("idx") / "oci", seed="skopeo-index")


def push(built, registry, ref, *extra):
    """skopeo copy an Image/Index built by imagebuild to ``registry``/``ref``."""
    skopeo("copy", "--dest-tls-verify=false", *extra, f"oci:{built.layout}:{built.tag}",
           f"docker://{registry.host}/{ref}")


def assert_same_blobs(pulled_dir, blobs: dict):
    for digest, data in blobs.items():
        got = blob(pulled_dir, digest)
        assert sha256(got) == digest
        assert got == data


def test_push_pull_image(registry, image, tmp_path):
    """issue: skopeo push/pull round trip keeps manifest digest and blob bytes."""
    push(image, registry, "clients/skopeo-img:v1")
    ref = f"docker://{registry.host}/clients/skopeo-img:v1"

    raw = skopeo("inspect", TLS, "--raw", ref, timeout=60).encode()
    assert raw == image.manifest
    assert sha256(raw) == image.manifest_digest
    assert skopeo("inspect", TLS, "--format", "{{.Digest}}", ref, timeout=60).strip() == image.manifest_digest

    r = requests.get(f"{registry.url}/v2/clients/skopeo-img/manifests/v1",
                     headers={"Accept": OCI_MANIFEST}, timeout=30)
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == image.manifest_digest
    assert r.headers["Content-Type"] == OCI_MANIFEST
    assert r.content == image.manifest

    for pull_ref, tag in [(ref, "bytag"),
                          (f"docker://{registry.host}/clients/skopeo-img@{image.manifest_digest}", "bydigest")]:
        out = tmp_path / tag
        skopeo("copy", "--src-tls-verify=false", pull_ref, f"oci:{out}:{tag}")
        desc, _ = read_layout(out, tag)
        assert desc["digest"] == image.manifest_digest
        assert blob(out, image.manifest_digest) == image.manifest
        assert_same_blobs(out, image.blobs)


def test_push_pull_index(registry, index, tmp_path):
    """issue: skopeo copy --all of a 2-platform OCI index round trips digest-exact."""
    push(index, registry, "clients/skopeo-idx:v1", "--all")
    ref = f"docker://{registry.host}/clients/skopeo-idx:v1"

    raw = skopeo("inspect", TLS, "--raw", ref, timeout=60).encode()
    assert raw == index.index
    assert json.loads(raw)["mediaType"] == OCI_INDEX
    assert skopeo("inspect", TLS, "--format", "{{.Digest}}", ref, timeout=60).strip() == index.index_digest

    out = tmp_path / "pulled"
    skopeo("copy", "--all", "--src-tls-verify=false", ref, f"oci:{out}:v1")
    desc, _ = read_layout(out, "v1")
    assert desc["digest"] == index.index_digest
    assert blob(out, index.index_digest) == index.index
    for img in index.images.values():
        assert blob(out, img.manifest_digest) == img.manifest
        assert_same_blobs(out, img.blobs)


def test_list_tags(registry, tmp_path):
    """issue: skopeo list-tags shows every pushed tag of a repository."""
    img = build_image(tmp_path / "oci", layer_sizes=[100], seed="tags")
    for tag in ("v2", "v1", "latest"):
        push(img, registry, f"clients/skopeo-tags:{tag}")
    out = json.loads(skopeo("list-tags", TLS, f"docker://{registry.host}/clients/skopeo-tags", timeout=60))
    assert out["Repository"] == f"{registry.host}/clients/skopeo-tags"
    assert sorted(out["Tags"]) == ["latest", "v1", "v2"]


def test_delete(registry, tmp_path):
    """issue: skopeo delete removes the manifest; its tag and digest then 404."""
    img = build_image(tmp_path / "oci", layer_sizes=[100, 200], seed="delete")
    push(img, registry, "clients/skopeo-del:v1")
    base = f"{registry.url}/v2/clients/skopeo-del"
    assert requests.head(f"{base}/manifests/v1", headers={"Accept": OCI_MANIFEST}, timeout=30).status_code == 200

    skopeo("delete", TLS, f"docker://{registry.host}/clients/skopeo-del:v1", timeout=60)

    for ref in ("v1", img.manifest_digest):
        r = requests.get(f"{base}/manifests/{ref}", headers={"Accept": OCI_MANIFEST}, timeout=30)
        assert r.status_code == 404, (ref, r.text)
        assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    with pytest.raises(SkopeoError) as e:
        skopeo("inspect", TLS, "--raw", f"docker://{registry.host}/clients/skopeo-del:v1", timeout=60)
    assert "manifest unknown" in e.value.stderr
    # Deleting a manifest does not delete blobs (that is garbage collection's job).
    r = requests.get(f"{base}/blobs/{img.layer_digests[0]}", timeout=30)
    assert r.status_code == 200
    assert r.content == img.blobs[img.layer_digests[0]]

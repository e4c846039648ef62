"""docker (dockerd 20.10) against the registry: push, pull, cross-repo mount.

dockerd pushes each layer as POST + one PATCH with Transfer-Encoding:
chunked (no Content-Length, no Content-Range) + PUT ?digest= with an empty
body, then HEADs the blob; it re-compresses layers, so the pushed manifest
(Docker schema 2) differs from the OCI one but the config, hence the image
ID, is the same. Pull: HEAD manifest by tag, then GET by digest.
"""

import hashlib
import json
import re

import pytest
import requests

from imagebuild import build_image, build_index
from procs import DockerDaemon, skopeo

MiB = 1024 * 1024
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory):
    """One private dockerd for the session. 127.0.0.0/8 is declared insecure
    (plain http) so it works with any registry port, session- or test-scoped."""
    with DockerDaemon(tmp_path_factory.mktemp("dockerd"), ["127.0.0.0/8"]) as daemon:
        yield daemon


def image_id(dockerd, ref):
    return dockerd.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def load(dockerd, img, ref, tmp_path):
    """Hand an imagebuild image to docker the way a user would: an archive."""
    archive = tmp_path / "image.tar"
    skopeo("copy", f"oci:{img.layout}:{img.tag}", f"docker-archive:{archive}:{ref}")
    assert f"Loaded image: {ref}" in dockerd.docker("load", "-i", archive).stdout


def pushed_digest(output: str, tag: str) -> str:
    m = re.search(rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: (\d+)$", output, re.M)
    assert m, output
    return m.group(1)


def test_push_rmi_pull(registry, dockerd, tmp_path):
    """issue: docker push, rmi, pull round trip keeps the image ID; the digest docker
    reports is the one the registry serves."""
    img = build_image(tmp_path / "oci", layer_sizes=[8 * MiB, 100 * 1024, 500], seed="docker")
    ref = f"{registry.host}/clients/docker:v1"
    load(dockerd, img, ref, tmp_path)
    before = image_id(dockerd, ref)
    assert before == img.config_digest

    digest = pushed_digest(dockerd.docker("push", ref).stdout, "v1")
    r = requests.get(f"{registry.url}/v2/clients/docker/manifests/v1",
                     headers={"Accept": DOCKER_MANIFEST}, timeout=30)
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == digest
    assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest
    manifest = json.loads(r.content)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["digest"] == img.config_digest
    assert len(manifest["layers"]) == 3
    for layer in manifest["layers"]:
        head = requests.head(f"{registry.url}/v2/clients/docker/blobs/{layer['digest']}", timeout=30)
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == layer["size"]

    dockerd.docker("rmi", ref)
    assert dockerd.docker("image", "inspect", ref, check=False).returncode != 0
    out = dockerd.docker("pull", ref).stdout
    assert f"Digest: {digest}" in out
    assert image_id(dockerd, ref) == before
    repo_digests = dockerd.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
    assert f"{registry.host}/clients/docker@{digest}" in json.loads(repo_digests)

    # Same image to another repository: docker mounts the blobs across repos
    # (POST ?mount=&from=) instead of uploading them again.
    other = f"{registry.host}/clients/docker-mounted:v1"
    dockerd.docker("tag", ref, other)
    out = dockerd.docker("push", other).stdout
    assert "Mounted from clients/docker" in out
    assert pushed_digest(out, "v1") == digest


def test_pull_index(registry, dockerd, tmp_path):
    """issue: docker pulls the right platform out of an OCI image index pushed by skopeo."""
    idx = build_index(tmp_path / "oci", seed="docker-index")
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{idx.layout}:{idx.tag}",
           f"docker://{registry.host}/clients/docker-index:v1")
    for os_, arch in idx.images:
        ref = f"{registry.host}/clients/docker-index:v1"
        out = dockerd.docker("pull", "--platform", f"{os_}/{arch}", ref).stdout
        assert f"Digest: {idx.index_digest}" in out
        assert image_id(dockerd, ref) == idx.images[(os_, arch)].config_digest
        dockerd.docker("rmi", ref)

"""Issue 3, "Scale-out, tested for real": two instances over one bucket behind nginx.

Both instances are separate gunicorn processes with several workers each,
sharing nothing but a moto_server bucket and ``http.secret``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from registry_servers import s3_env
from imagebuild import blob, build_image, read_layout
from procs import NginxProxy, RegistryServer, skopeo

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, moto_server):
    secret = secrets.token_hex(32)
    env = s3_env(moto_server.endpoint, f"scale-{uuid.uuid4().hex[:8]}", REGISTRY_HTTP_SECRET=secret,
                 REGISTRY_LOG_ACCESSLOG_DISABLED="true")
    tmp = tmp_path_factory.mktemp("cluster")
    instances = [RegistryServer(tmp / f"root{i}", tmp / f"run{i}", env=env, workers=3).start() for i in range(2)]
    proxy = NginxProxy(tmp / "nginx", [i.host for i in instances]).start()
    yield {"instances": instances, "proxy": proxy, "env": env, "tmp": tmp}
    proxy.stop()
    for instance in instances:
        if instance.proc.poll() is None:
            instance.stop()


def _on(url: str, host: str) -> str:
    """The same upload URL, sent to another instance."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def test_skopeo_push_and_pull_through_nginx(cluster, tmp_path):
    """Issue 3: skopeo pushes through nginx round-robin a multi-layer image whose layers need several parts."""
    proxy = cluster["proxy"]
    image = build_image(tmp_path / "src", layer_sizes=[12 * MiB, 7 * MiB, 4096], seed=31)
    ref = f"docker://{proxy.host}/scale/image:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'src'}:latest", ref)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", ref).encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == image.manifest_digest
    skopeo("copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'back'}:v1")
    descriptor, _ = read_layout(tmp_path / "back", "v1")
    assert descriptor["digest"] == image.manifest_digest
    assert blob(tmp_path / "back", image.manifest_digest) == image.manifest
    for digest in image.layer_digests:
        data = blob(tmp_path / "back", digest)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest


def test_chunked_upload_alternating_instances(cluster):
    """Issue 3: 7 chunks of mixed sizes, each sent to the other instance than the one before."""
    a, b = cluster["instances"]
    sizes = [1, 3 * MiB, 6 * MiB, 5 * MiB + 1, 512 * 1024, 11 * MiB, 7]
    data = bytes(range(256)) * (sum(sizes) // 256 + 1)
    data = data[: sum(sizes)]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = requests.post(f"{a.url}/v2/scale/chunks/blobs/uploads/")
    assert response.status_code == 202
    location, offset = response.headers["Location"], 0
    for i, size in enumerate(sizes):
        target = (b if i % 2 == 0 else a).host
        response = requests.patch(
            _on(location, target), data=data[offset: offset + size],
            headers={"Content-Range": f"{offset}-{offset + size - 1}", "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 202, response.text
        offset += size
        assert response.headers["Range"] == f"0-{offset - 1}"
        location = response.headers["Location"]
    response = requests.put(_on(location, b.host) + f"&digest={digest}")
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    pulled = requests.get(f"{a.url}/v2/scale/chunks/blobs/{digest}")
    assert pulled.status_code == 200
    assert pulled.content == data


def test_upload_survives_a_killed_instance(cluster, tmp_path_factory):
    """Issue 3: SIGKILL an instance (master and workers) between two PATCHes; resume on the survivor."""
    victim = RegistryServer(tmp_path_factory.mktemp("victim-root"), tmp_path_factory.mktemp("victim-run"),
                            env=cluster["env"], workers=2).start()
    survivor = cluster["instances"][0]
    first, second = b"x" * (6 * MiB + 3), b"y" * (2 * MiB + 5)
    data = first + second
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = requests.post(f"{victim.url}/v2/scale/killed/blobs/uploads/")
    response = requests.patch(response.headers["Location"], data=first,
                              headers={"Content-Range": f"0-{len(first) - 1}"})
    assert response.status_code == 202
    location = response.headers["Location"]
    victim.kill()
    assert victim.proc.poll() is not None
    status = requests.get(_on(location, survivor.host))
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(first) - 1}"
    offset = int(status.headers["Range"].split("-")[1]) + 1
    response = requests.patch(status.headers["Location"], data=data[offset:],
                              headers={"Content-Range": f"{offset}-{len(data) - 1}"})
    assert response.status_code == 202, response.text
    response = requests.put(response.headers["Location"] + f"&digest={digest}")
    assert response.status_code == 201, response.text
    assert requests.get(f"{survivor.url}/v2/scale/killed/blobs/{digest}").content == data


def test_foreign_secret_is_refused_clearly(cluster, tmp_path_factory):
    """Issue 3: an instance with another secret answers a foreign upload URL with BLOB_UPLOAD_INVALID, never a 500."""
    env = dict(cluster["env"], REGISTRY_HTTP_SECRET=secrets.token_hex(32))
    stranger = RegistryServer(tmp_path_factory.mktemp("stranger-root"), tmp_path_factory.mktemp("stranger-run"),
                              env=env, workers=1).start()
    try:
        a = cluster["instances"][0]
        location = requests.post(f"{a.url}/v2/scale/foreign/blobs/uploads/").headers["Location"]
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            response = requests.request(method, _on(location, stranger.host), data=b"abc")
            assert response.status_code == 400, (method, response.text)
            error = response.json()["errors"][0]
            assert error["code"] == "BLOB_UPLOAD_INVALID"
            assert "http.secret" in json.dumps(error["detail"])
        assert requests.get(location).status_code == 204  # the real owner still takes it
    finally:
        stranger.stop()

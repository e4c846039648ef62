"""Storage-layout compatibility with the reference registry (distribution 2.8.2).

A registry root written by one implementation must be served by the other
unchanged: same tags, same manifest digests and bytes, same blob bytes. This
is what lets an operator swap implementations on existing data.
"""

import hashlib

import requests

from imagebuild import OCI_INDEX, OCI_MANIFEST, blob, build_image, build_index, read_layout
from procs import DistributionServer, RegistryServer, skopeo

MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_then_read(tmp_path, writer_cls, reader_cls):
    root = tmp_path / "root"
    img = build_image(tmp_path / "img", layer_sizes=[2 * MiB, 1000], seed=f"compat-{writer_cls.__name__}")
    idx = build_index(tmp_path / "idx", seed=f"compat-idx-{writer_cls.__name__}")

    with writer_cls(root, tmp_path / "writer") as w:
        for built, ref, extra in [(img, "compat/img:v1", ()), (idx, "compat/idx:v1", ("--all",))]:
            skopeo("copy", "--dest-tls-verify=false", *extra,
                   f"oci:{built.layout}:{built.tag}", f"docker://{w.host}/{ref}")

    with reader_cls(root, tmp_path / "reader") as r:
        for repo, digest, body, media_type in [("compat/img", img.manifest_digest, img.manifest, OCI_MANIFEST),
                                               ("compat/idx", idx.index_digest, idx.index, OCI_INDEX)]:
            for ref in ("v1", digest):
                resp = requests.get(f"{r.url}/v2/{repo}/manifests/{ref}",
                                    headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}, timeout=30)
                assert resp.status_code == 200, (repo, ref, resp.text)
                assert resp.headers["Docker-Content-Digest"] == digest
                assert resp.headers["Content-Type"] == media_type
                assert resp.content == body
            tags = requests.get(f"{r.url}/v2/{repo}/tags/list", timeout=30)
            assert tags.status_code == 200
            assert tags.json() == {"name": repo, "tags": ["v1"]}

        for ref in ("compat/img:v1", f"compat/img@{img.manifest_digest}"):
            out = tmp_path / ("pull-" + ref.replace("/", "_").replace(":", "_").replace("@", "_"))
            skopeo("copy", "--src-tls-verify=false", f"docker://{r.host}/{ref}", f"oci:{out}:x")
            assert read_layout(out, "x")[0]["digest"] == img.manifest_digest
            for digest, data in img.blobs.items():
                assert blob(out, digest) == data

        out = tmp_path / "pull-idx"
        skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{r.host}/compat/idx:v1", f"oci:{out}:x")
        assert read_layout(out, "x")[0]["digest"] == idx.index_digest
        for sub in idx.images.values():
            assert blob(out, sub.manifest_digest) == sub.manifest
            for digest, data in sub.blobs.items():
                assert sha256(blob(out, digest)) == digest
                assert blob(out, digest) == data


def test_distribution_root_served_by_ours(tmp_path):
    """issue: storage compatibility — a root written by docker-registry is served by ours."""
    write_then_read(tmp_path, DistributionServer, RegistryServer)


def test_our_root_served_by_distribution(tmp_path):
    """issue: storage compatibility — a root written by ours is served by docker-registry."""
    write_then_read(tmp_path, RegistryServer, DistributionServer)

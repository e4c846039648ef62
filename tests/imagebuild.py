"""Build OCI image layouts in pure Python, so tests need no base image or network.

Layers hold seeded random (incompressible) bytes, so a blob's digest, size and
bytes can be compared exactly after a round trip through a registry, and
sizes on the wire are what the caller asked for. Everything is deterministic
for a given seed (fixed mtimes, gzip mtime 0), so the same call yields the
same digests. ``skopeo copy oci:DIR:TAG ...`` reads the result.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # CREATED as a unix time


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    """What build_image wrote: digests plus the exact bytes for comparisons."""

    manifest_digest: str
    manifest: bytes
    config_digest: str
    config: bytes
    layer_digests: list[str]
    diff_ids: list[str]
    platform: tuple[str, str]
    layout: Path  # the OCI layout directory: ``oci:{layout}:{tag}``
    tag: str | None = None  # None for an image that is only part of an index
    blobs: dict[str, bytes] = field(repr=False, default_factory=dict)  # config + layers, by digest

    @property
    def descriptor(self) -> dict:
        return {"mediaType": OCI_MANIFEST, "digest": self.manifest_digest,
                "size": len(self.manifest),
                "platform": {"os": self.platform[0], "architecture": self.platform[1]}}


@dataclass
class Index:
    index_digest: str
    index: bytes
    images: dict[tuple[str, str], Image]
    layout: Path
    tag: str


def _write_blob(layout: Path, data: bytes) -> str:
    digest = sha256(data)
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _layer_tar(n: int, size: int, rng: random.Random) -> bytes:
    """One directory and one file of ``size`` random bytes; tarfile pads the
    archive with the two zero end blocks and up to a full 10 KiB record."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo(f"layer{n}")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, MTIME
        tar.addfile(d)
        f = tarfile.TarInfo(f"layer{n}/data.bin")
        f.size, f.mode, f.mtime = size, 0o644, MTIME
        tar.addfile(f, io.BytesIO(rng.randbytes(size)))
    return buf.getvalue()


def _layout_files(layout: Path, manifests: list[dict]) -> None:
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_bytes(_json(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))


def _image_blobs(layout: Path, layer_sizes, platform, seed) -> Image:
    rng = random.Random(f"{seed}-{platform[0]}-{platform[1]}")
    blobs, layer_descs, layer_digests, diff_ids, history = {}, [], [], [], []
    for n, size in enumerate(layer_sizes):
        tar = _layer_tar(n, size, rng)
        gz = gzip.compress(tar, compresslevel=1, mtime=0)
        digest = _write_blob(layout, gz)
        blobs[digest] = gz
        layer_digests.append(digest)
        diff_ids.append(sha256(tar))
        layer_descs.append({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": len(gz)})
        history.append({"created": CREATED, "created_by": f"imagebuild: layer{n} {size} bytes"})
    config = _json({
        "created": CREATED,
        "architecture": platform[1],
        "os": platform[0],
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/layer0/data.bin"], "Labels": {"seed": str(seed)}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    })
    config_digest = _write_blob(layout, config)
    blobs[config_digest] = config
    manifest = _json({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": layer_descs,
    })
    manifest_digest = _write_blob(layout, manifest)
    return Image(manifest_digest, manifest, config_digest, config, layer_digests,
                 diff_ids, tuple(platform), layout, None, blobs)


def build_image(dir, layer_sizes=(1024,), platform=("linux", "amd64"), seed=0,
                tag="latest") -> Image:
    """Write a single-platform OCI layout at ``dir`` tagged ``tag``
    (``oci:DIR:TAG``); ``layer_sizes`` are the uncompressed file sizes."""
    layout = Path(dir)
    img = _image_blobs(layout, layer_sizes, platform, seed)
    desc = dict(img.descriptor, annotations={"org.opencontainers.image.ref.name": tag})
    _layout_files(layout, [desc])
    img.tag = tag
    return img


def build_index(dir, platforms=(("linux", "amd64"), ("linux", "arm64")),
                layer_sizes=(2048, 4096), seed=0, tag="latest") -> Index:
    """Write a multi-platform image index (one image per platform, distinct
    content) at ``dir`` tagged ``tag``; push it with ``skopeo copy --all``."""
    layout = Path(dir)
    images = {tuple(p): _image_blobs(layout, layer_sizes, p, seed) for p in platforms}
    index = _json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                   "manifests": [img.descriptor for img in images.values()]})
    index_digest = _write_blob(layout, index)
    _layout_files(layout, [{"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index),
                            "annotations": {"org.opencontainers.image.ref.name": tag}}])
    return Index(index_digest, index, images, layout, tag)


def read_layout(dir, tag=None) -> tuple[dict, Path]:
    """The descriptor (from index.json) for ``tag`` (or the only one) and the
    blobs directory of a layout, e.g. one skopeo wrote when pulling."""
    layout = Path(dir)
    manifests = json.loads((layout / "index.json").read_bytes())["manifests"]
    if tag is not None:
        manifests = [m for m in manifests
                     if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    assert len(manifests) == 1, manifests
    return manifests[0], layout / "blobs" / "sha256"


def blob(dir, digest: str) -> bytes:
    """Bytes of blob ``digest`` in the layout at ``dir``."""
    return (Path(dir) / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()

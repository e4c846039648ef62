"""Committed content: blobs linked into repositories, manifests, tags, referrers.

No Flask here: the blueprints hand in validated names, tags and digests and
get back descriptors, readers or URLs.
"""

from __future__ import annotations

import dataclasses
import json
from typing import BinaryIO, Iterable

from storage_drivers import PathNotFound, StorageDriver

from ..digest import Digest
from ..errors import BlobUnknown, ManifestBlobUnknown, ManifestUnknown, NameUnknown
from ..manifest import Manifest, declared_media_type, loads, media_type_of_stored
from . import paths


@dataclasses.dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int


@dataclasses.dataclass(frozen=True)
class StoredManifest:
    digest: Digest
    media_type: str
    data: bytes


class Store:
    """One registry's content on one storage driver."""

    def __init__(self, driver: StorageDriver):
        self.driver = driver

    # -- blobs ---------------------------------------------------------------

    def _exists(self, path: str) -> bool:
        try:
            self.driver.stat(path)
            return True
        except PathNotFound:
            return False

    def blob_exists(self, digest: Digest) -> bool:
        return self._exists(paths.blob_data(digest))

    def blob_info(self, name: str, digest: Digest) -> BlobInfo:
        """The blob as seen from ``name``: it must be linked into that repository."""
        if not self._exists(paths.layer_link(name, digest)):
            raise BlobUnknown({"digest": str(digest)})
        try:
            size = self.driver.stat(paths.blob_data(digest)).size
        except PathNotFound:
            raise BlobUnknown({"digest": str(digest)}) from None
        return BlobInfo(digest, size)

    def open_blob(self, digest: Digest, offset: int = 0) -> BinaryIO:
        try:
            return self.driver.open_reader(paths.blob_data(digest), offset)
        except PathNotFound:
            raise BlobUnknown({"digest": str(digest)}) from None

    def blob_url(self, digest: Digest) -> str | None:
        return self.driver.url_for(paths.blob_data(digest))

    def link_blob(self, name: str, digest: Digest) -> None:
        self.driver.write(paths.layer_link(name, digest), str(digest).encode())

    def mount_blob(self, name: str, digest: Digest, source: str | None) -> bool:
        """Link an existing blob into ``name``; from ``source`` if given, else from anywhere."""
        if source is not None and not self._exists(paths.layer_link(source, digest)):
            return False
        if not self.blob_exists(digest):
            return False
        self.link_blob(name, digest)
        return True

    def unlink_blob(self, name: str, digest: Digest) -> None:
        try:
            self.driver.delete(paths.layer_link(name, digest))
        except PathNotFound:
            raise BlobUnknown({"digest": str(digest)}) from None

    # -- repositories ----------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        try:
            children = self.driver.list(paths.repository(name))
        except PathNotFound:
            return False
        return "_manifests" in children or "_layers" in children

    def catalog(self) -> list[str]:
        """Every repository name, in byte order (as ``find_dirs`` returns them)."""
        try:
            return self.driver.find_dirs(paths.REPOSITORIES, "_")
        except PathNotFound:
            return []

    # -- manifests and tags ------------------------------------------------------

    def resolve_tag(self, name: str, tag: str) -> Digest:
        try:
            link = self.driver.read(paths.tag_current_link(name, tag))
        except PathNotFound:
            raise ManifestUnknown({"tag": tag}) from None
        return Digest.parse(link.decode().strip())

    def manifest_exists(self, name: str, digest: Digest) -> bool:
        return self._exists(paths.revision_link(name, digest))

    def get_manifest(self, name: str, digest: Digest) -> StoredManifest:
        if not self.manifest_exists(name, digest):
            raise ManifestUnknown({"digest": str(digest)})
        try:
            data = self.driver.read(paths.blob_data(digest))
        except PathNotFound:
            raise ManifestUnknown({"digest": str(digest)}) from None
        media_type = declared_media_type(data)
        if media_type is None:
            try:
                media_type = self.driver.read(paths.revision_media_type(name, digest)).decode()
            except PathNotFound:  # pushed elsewhere (e.g. by Distribution): infer from the structure
                media_type = media_type_of_stored(data)
        return StoredManifest(digest, media_type, data)

    def check_references(self, name: str, manifest: Manifest) -> None:
        """Every blob and child manifest the manifest needs must be in this repository."""
        missing = [str(d) for d in manifest.required_blobs() if not self._exists(paths.layer_link(name, d))]
        missing += [str(d) for d in manifest.child_manifests() if not self.manifest_exists(name, d)]
        if missing:
            raise ManifestBlobUnknown({"missing": missing})

    def put_manifest(self, name: str, manifest: Manifest, tags: Iterable[str]) -> None:
        digest = manifest.digest
        data_path = paths.blob_data(digest)
        if not self._exists(data_path):
            self.driver.write(data_path, manifest.data)
        if "mediaType" not in manifest.document:
            # The Content-Type it was pushed with, so GET answers the same one.
            self.driver.write(paths.revision_media_type(name, digest), manifest.media_type.encode())
        self.driver.write(paths.revision_link(name, digest), str(digest).encode())
        if manifest.subject is not None:
            entry = json.dumps(manifest.referrer_descriptor(), separators=(",", ":")).encode()
            self.driver.write(paths.referrer_entry(name, manifest.subject, digest), entry)
        for tag in tags:
            self.driver.write(paths.tag_index_link(name, tag, digest), str(digest).encode())
            self.driver.write(paths.tag_current_link(name, tag), str(digest).encode())

    def tags(self, name: str) -> list[str]:
        """Tags in byte order; NAME_UNKNOWN for a repository that does not exist."""
        try:
            return sorted(self.driver.list(paths.tags(name)), key=str.encode)
        except PathNotFound:
            if self.repository_exists(name):
                return []
            raise NameUnknown({"name": name}) from None

    def delete_tag(self, name: str, tag: str) -> None:
        try:
            self.driver.delete(paths.tag(name, tag))
        except PathNotFound:
            raise ManifestUnknown({"tag": tag}) from None

    def delete_manifest(self, name: str, digest: Digest) -> None:
        """Remove the revision, every tag pointing at it and its referrer entry."""
        stored = self.get_manifest(name, digest)
        for tag in self.tags(name):
            try:
                if self.resolve_tag(name, tag) == digest:
                    self.driver.delete(paths.tag(name, tag))
            except (ManifestUnknown, PathNotFound):
                continue
        subject = Manifest.subject_of_stored(stored.data)
        if subject is not None:
            try:
                self.driver.delete(paths.referrer_entry(name, subject, digest))
            except PathNotFound:
                pass
        self.driver.delete(paths.revision_link(name, digest))

    # -- referrers -------------------------------------------------------------

    def referrers(self, name: str, subject: Digest) -> list[dict]:
        """Descriptors of the manifests whose ``subject`` is ``subject``, by digest.

        Merges the image index under the referrers tag schema (``sha256-<hex>``)
        that clients without the referrers API maintain themselves.
        """
        found: dict[str, dict] = {}
        root = paths.referrers(name, subject)
        try:
            entries = self.driver.list(root)
        except PathNotFound:
            entries = []
        for entry in entries:
            try:
                descriptor = json.loads(self.driver.read(f"{root}/{entry}"))
            except (PathNotFound, ValueError):
                continue
            found[descriptor["digest"]] = descriptor
        for descriptor in self._referrers_tag_index(name, subject):
            found.setdefault(descriptor["digest"], descriptor)
        return [found[d] for d in sorted(found)]

    def _referrers_tag_index(self, name: str, subject: Digest) -> list[dict]:
        tag = f"{subject.algorithm[:32]}-{subject.hex[:64]}"
        try:
            stored = self.get_manifest(name, self.resolve_tag(name, tag))
            document = loads(stored.data)
        except (ManifestUnknown, ValueError):
            return []
        manifests = document.get("manifests") if isinstance(document, dict) else None
        if not isinstance(manifests, list):
            return []
        return [m for m in manifests if isinstance(m, dict) and isinstance(m.get("digest"), str)]

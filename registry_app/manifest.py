"""Manifests: media types, parsing and validation of what clients push.

A ``Manifest`` exists only when valid; it keeps the exact bytes the client
sent, because the registry stores and serves those byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .digest import Digest
from .errors import DigestInvalid, ManifestInvalid, RegistryError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
SCHEMA1_TYPES = (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
# Content-Types that say nothing about the manifest: take the type from the body.
_GENERIC_TYPES = ("", "application/json", "application/octet-stream")

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _is_non_distributable(descriptor: dict) -> bool:
    media_type = descriptor.get("mediaType", "")
    return "foreign" in media_type or "nondistributable" in media_type or bool(descriptor.get("urls"))


def _invalid(reason: str, **detail: Any) -> ManifestInvalid:
    return ManifestInvalid({"reason": reason, **detail}, message=f"manifest invalid: {reason}")


def _descriptor(value: Any, where: str) -> dict:
    """Check a descriptor's field types (OCI content-descriptor schema)."""
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a descriptor object")
    if not isinstance(value.get("mediaType"), str) or not value["mediaType"]:
        raise _invalid(f"{where}.mediaType must be a non-empty string")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    try:
        Digest.parse(value.get("digest"))
    except RegistryError:
        raise _invalid(f"{where}.digest is not a valid digest", digest=str(value.get("digest"))[:200]) from None
    for key in ("urls",):
        if key in value and not (isinstance(value[key], list) and all(isinstance(u, str) for u in value[key])):
            raise _invalid(f"{where}.urls must be a list of strings")
    _annotations(value, where)
    if "artifactType" in value and not isinstance(value["artifactType"], str):
        raise _invalid(f"{where}.artifactType must be a string")
    return value


def _annotations(value: dict, where: str) -> None:
    annotations = value.get("annotations")
    if annotations is not None and not (
        isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())
    ):
        raise _invalid(f"{where}.annotations must map strings to strings")


def _media_type_of(document: dict) -> str:
    """The type a stored manifest declares, or the one its structure implies."""
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if document.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1_SIGNED if "signatures" in document else DOCKER_SCHEMA1
    return OCI_MANIFEST if "config" in document or "manifests" not in document else OCI_INDEX


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes):
    """RFC 8259 JSON as Go clients read it: UTF-8 without a BOM, no NaN or Infinity.

    ``json.loads`` on bytes would also accept UTF-16/32 and a BOM.  Any
    failure, nesting too deep included, is a ValueError.
    """
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("byte order mark")
        return json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, RecursionError) as e:
        raise ValueError(str(e)) from None


def declared_media_type(data: bytes) -> str | None:
    """The ``mediaType`` a stored manifest declares itself, if any."""
    try:
        document = loads(data)
    except ValueError:
        return "application/octet-stream"
    if not isinstance(document, dict):
        return "application/octet-stream"
    declared = document.get("mediaType")
    return declared if isinstance(declared, str) and declared else None


def media_type_of_stored(data: bytes) -> str:
    try:
        document = loads(data)
    except ValueError:
        return "application/octet-stream"
    return _media_type_of(document) if isinstance(document, dict) else "application/octet-stream"


@dataclasses.dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: Digest
    document: dict

    @classmethod
    def parse(cls, data: bytes, content_type: str, reference_digest: Digest | None = None) -> "Manifest":
        """Validate a pushed manifest; ``content_type`` has its parameters stripped already."""
        if reference_digest is not None:
            digest = Digest.of(data, reference_digest.algorithm)
            if digest != reference_digest:
                raise DigestInvalid({"expected": str(reference_digest), "actual": str(digest)})
        else:
            digest = Digest.of(data)
        try:
            document = loads(data)
        except ValueError:
            raise _invalid("body is not valid UTF-8 JSON (RFC 8259)") from None
        if not isinstance(document, dict):
            raise _invalid("body must be a JSON object")
        declared = document.get("mediaType")
        if declared is not None and not isinstance(declared, str):
            raise _invalid("mediaType must be a string")
        if content_type in SCHEMA1_TYPES or declared in SCHEMA1_TYPES or document.get("schemaVersion") == 1:
            raise _invalid(
                "Docker image manifest schema 1 is deprecated and not accepted; push schema 2 or OCI manifests"
            )
        if declared and content_type not in _GENERIC_TYPES and declared != content_type:
            raise _invalid(
                "mediaType does not match Content-Type", mediaType=declared, contentType=content_type
            )
        media_type = declared or (content_type if content_type not in _GENERIC_TYPES else _media_type_of(document))
        if media_type in (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST) and not declared:
            raise _invalid("Docker schema 2 manifests must declare mediaType")
        if document.get("schemaVersion") != 2 or isinstance(document.get("schemaVersion"), bool):
            raise _invalid("schemaVersion must be 2")
        if media_type in IMAGE_TYPES:
            _descriptor(document.get("config"), "config")
            layers = document.get("layers", [])
            if not isinstance(layers, list):
                raise _invalid("layers must be a list of descriptors")
            for i, layer in enumerate(layers):
                _descriptor(layer, f"layers[{i}]")
        elif media_type in INDEX_TYPES:
            manifests = document.get("manifests")
            if not isinstance(manifests, list):
                raise _invalid("manifests must be a list of descriptors")
            for i, child in enumerate(manifests):
                _descriptor(child, f"manifests[{i}]")
        else:
            raise _invalid(f"unsupported manifest media type {media_type!r}", mediaType=media_type)
        if "subject" in document:
            _descriptor(document["subject"], "subject")
        if "artifactType" in document and not isinstance(document["artifactType"], str):
            raise _invalid("artifactType must be a string")
        _annotations(document, "manifest")
        return cls(data, media_type, digest, document)

    @property
    def subject(self) -> Digest | None:
        subject = self.document.get("subject")
        return Digest.parse(subject["digest"]) if subject else None

    @staticmethod
    def subject_of_stored(data: bytes) -> Digest | None:
        try:
            subject = loads(data).get("subject")
            return Digest.parse(subject["digest"]) if subject else None
        except (ValueError, AttributeError, TypeError, KeyError, RegistryError):
            return None

    def required_blobs(self) -> list[Digest]:
        if self.media_type not in IMAGE_TYPES:
            return []
        wanted = [self.document["config"]] + [
            layer for layer in self.document.get("layers", []) if not _is_non_distributable(layer)
        ]
        return [Digest.parse(d["digest"]) for d in wanted]

    def child_manifests(self) -> list[Digest]:
        if self.media_type not in INDEX_TYPES:
            return []
        return [Digest.parse(d["digest"]) for d in self.document["manifests"]]

    def referrer_descriptor(self) -> dict:
        """This manifest as an entry of its subject's referrers list (OCI 1.1 "Listing Referrers")."""
        descriptor = {"mediaType": self.media_type, "digest": str(self.digest), "size": len(self.data)}
        artifact_type = self.document.get("artifactType")
        if not artifact_type and self.media_type in IMAGE_TYPES:
            artifact_type = self.document["config"]["mediaType"]
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if self.document.get("annotations"):
            descriptor["annotations"] = self.document["annotations"]
        return descriptor

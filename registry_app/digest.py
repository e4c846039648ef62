"""Content digests (``algorithm:encoded``), validated on construction."""

from __future__ import annotations

import dataclasses
import hashlib
import re

from .errors import DigestInvalid

# The OCI grammar; anything outside it is not a digest at all.
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_SUPPORTED = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}
SUPPORTED_ALGORITHMS = tuple(_SUPPORTED)


@dataclasses.dataclass(frozen=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """Raise DIGEST_INVALID for a malformed digest or an unsupported algorithm."""
        if not isinstance(text, str) or not _GRAMMAR.fullmatch(text):
            raise DigestInvalid({"digest": text}, message="invalid digest")
        algorithm, encoded = text.split(":", 1)
        pattern = _SUPPORTED.get(algorithm)
        if pattern is None:
            raise DigestInvalid(
                {"digest": text, "supported": list(SUPPORTED_ALGORITHMS)},
                message=f"unsupported digest algorithm {algorithm}",
            )
        if not pattern.fullmatch(encoded):
            raise DigestInvalid({"digest": text}, message=f"invalid {algorithm} digest")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> "Digest":
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def looks_like_digest(text: str) -> bool:
    """True when a manifest reference is meant as a digest rather than a tag."""
    return ":" in text

"""Repository names and tags, validated before they reach storage."""

from __future__ import annotations

import re

from .errors import ManifestInvalid, NameInvalid

_NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
NAME_MAX_LENGTH = 255


def repository_name(name: str) -> str:
    if len(name) > NAME_MAX_LENGTH:
        raise NameInvalid({"name": name[:300], "reason": f"longer than {NAME_MAX_LENGTH} characters"})
    if not _NAME.fullmatch(name):
        raise NameInvalid({"name": name, "reason": "does not match the spec's repository name grammar"})
    return name


def is_tag(text: str) -> bool:
    return bool(_TAG.fullmatch(text))


def tag(text: str) -> str:
    if not is_tag(text):
        raise ManifestInvalid({"tag": text[:300]}, message="invalid tag")
    return text

"""Every storage path, in Distribution's layout, in one place.

A root written by Distribution's ``registry`` is served unchanged and the
other way round.  Inputs are validated domain values (repository names, tags,
digests, upload ids), so no path here can escape its directory.
"""

from __future__ import annotations

from ..digest import Digest

ROOT = "docker/registry/v2"
REPOSITORIES = f"{ROOT}/repositories"


def blob_data(d: Digest) -> str:
    return f"{ROOT}/blobs/{d.algorithm}/{d.hex[:2]}/{d.hex}/data"


def repository(name: str) -> str:
    return f"{REPOSITORIES}/{name}"


def layer_link(name: str, d: Digest) -> str:
    return f"{REPOSITORIES}/{name}/_layers/{d.algorithm}/{d.hex}/link"


def manifests(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests"


def revision_link(name: str, d: Digest) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/revisions/{d.algorithm}/{d.hex}/link"


def revision_media_type(name: str, d: Digest) -> str:
    """The Content-Type a manifest without a ``mediaType`` field was pushed with (ours, not Distribution's)."""
    return f"{REPOSITORIES}/{name}/_manifests/revisions/{d.algorithm}/{d.hex}/mediatype"


def tags(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags"


def tag(name: str, tag: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}"


def tag_current_link(name: str, tag: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}/current/link"


def tag_index_link(name: str, tag: str, d: Digest) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}/index/{d.algorithm}/{d.hex}/link"


def referrers(name: str, subject: Digest) -> str:
    """One entry per (subject, referrer): concurrent pushes never overwrite each other.

    Not part of Distribution's layout; its registry ignores ``_``-directories it
    does not know.
    """
    return f"{REPOSITORIES}/{name}/_referrers/{subject.algorithm}/{subject.hex}"


def referrer_entry(name: str, subject: Digest, referrer: Digest) -> str:
    return f"{referrers(name, subject)}/{referrer.algorithm}-{referrer.hex}"


def uploads(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_uploads"


def upload(name: str, upload_id: str) -> str:
    return f"{REPOSITORIES}/{name}/_uploads/{upload_id}"


def upload_data(name: str, upload_id: str) -> str:
    return f"{upload(name, upload_id)}/data"


def upload_started_at(name: str, upload_id: str) -> str:
    return f"{upload(name, upload_id)}/startedat"


def upload_states(name: str, upload_id: str, algorithm: str) -> str:
    return f"{upload(name, upload_id)}/hashstates/{algorithm}"


def upload_state(name: str, upload_id: str, algorithm: str, offset: int) -> str:
    return f"{upload_states(name, upload_id, algorithm)}/{offset}"


def upload_claim(name: str, upload_id: str, algorithm: str, offset: int) -> str:
    """Created exclusively by the one request that moves an upload past ``offset``."""
    return f"{upload_states(name, upload_id, algorithm)}/{offset}.next"

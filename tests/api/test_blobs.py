"""Blob pulls, existence checks, byte ranges and deletion over real HTTP.

OCI Distribution Spec 1.1 "Pulling blobs", "Checking if content exists in the
registry", "Deleting Blobs" and "Error Codes"; byte ranges per RFC 9110 §14
(the spec: "A registry SHOULD support the Range request header").  Every test
runs once per storage driver (the ``api`` fixture).
"""

from __future__ import annotations

import hashlib
import uuid

import pytest

from api.helpers import assert_error

DATA = bytes(range(10))  # a 10-byte blob: offsets and sizes are easy to read
OCTET = "application/octet-stream"
ENTITY_HEADERS = ("Content-Length", "Content-Type", "Docker-Content-Digest", "ETag", "Content-Range")


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def push(api, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Single-POST monolithic push; the digest of what was pushed."""
    digest = digest_of(data, algorithm)
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data,
            headers={"Content-Type": OCTET})
    assert r.status_code == 201, r.text
    return digest


_SHARED: dict[str, tuple[str, str]] = {}


@pytest.fixture
def shared(api) -> tuple[str, str]:
    """``(repo, digest)`` of DATA, pushed once per server: the read-only range
    tests share it (each push costs several storage round trips on S3)."""
    if api.url not in _SHARED:
        repo = f"test/blobs-shared-{uuid.uuid4().hex[:8]}"
        _SHARED[api.url] = (repo, push(api, repo, DATA))
    return _SHARED[api.url]


def entity_headers(r) -> dict:
    return {h: r.headers.get(h) for h in ENTITY_HEADERS}


# -- GET / HEAD ------------------------------------------------------------------


def test_get_blob_returns_bytes_and_headers(api, repo):
    """Pulling blobs: GET of an existing blob is 200 with the exact bytes, and
    Docker-Content-Digest matching the body; issue: Content-Length, Content-Type
    and ETag (the quoted digest)."""
    digest = push(api, repo, DATA)
    r = api("GET", f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["Content-Length"] == str(len(DATA))
    assert r.headers["Content-Type"] == OCTET
    assert r.headers["Docker-Content-Digest"] == digest
    assert digest_of(r.content) == r.headers["Docker-Content-Digest"]
    assert r.headers["ETag"] == f'"{digest}"'
    assert "Content-Range" not in r.headers


def test_head_blob_matches_get(api, repo):
    """Checking if content exists: HEAD is 200 with Docker-Content-Digest and
    Content-Length (the blob's size) and no body; issue: HEAD and GET agree on headers."""
    digest = push(api, repo, DATA)
    head = api("HEAD", f"/v2/{repo}/blobs/{digest}")
    get = api("GET", f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(DATA))
    assert head.headers["Docker-Content-Digest"] == digest
    assert entity_headers(head) == entity_headers(get)
    assert head.headers.get("Accept-Ranges") == get.headers.get("Accept-Ranges")


def test_get_sha512_blob(api, repo):
    """Pulling blobs: a sha512 blob is served under its sha512 digest, which is
    its Docker-Content-Digest and (quoted) its ETag."""
    data = b"sha512 content\n" * 7
    digest = push(api, repo, data, "sha512")
    assert digest.startswith("sha512:") and len(digest) == 7 + 128
    r = api("GET", f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["ETag"] == f'"{digest}"'
    assert r.headers["Content-Length"] == str(len(data))


def test_get_zero_length_blob(api, repo):
    """Pulling blobs: the empty blob (sha256:e3b0c442...) is 200 with Content-Length 0."""
    digest = push(api, repo, b"")
    assert digest == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    for method in ("GET", "HEAD"):
        r = api(method, f"/v2/{repo}/blobs/{digest}")
        assert r.status_code == 200, method
        assert r.content == b""
        assert r.headers["Content-Length"] == "0"
        assert r.headers["Docker-Content-Digest"] == digest


def test_unknown_blob_is_404_blob_unknown(api, repo):
    """Pulling blobs / Checking existence: a blob not in the repository is 404;
    Error Codes: BLOB_UNKNOWN."""
    push(api, repo, DATA)  # the repository exists, the blob asked for does not
    missing = digest_of(b"never pushed")
    assert_error(api("GET", f"/v2/{repo}/blobs/{missing}"), 404, "BLOB_UNKNOWN")
    head = api("HEAD", f"/v2/{repo}/blobs/{missing}")
    assert head.status_code == 404
    assert head.content == b""


def test_blob_visible_only_in_linked_repository(api, repo):
    """Issue: a blob is visible only in repositories it is linked into: pushed
    into repo A, GET/HEAD from repo B is 404 BLOB_UNKNOWN."""
    other = repo + "-other"
    digest = push(api, repo, DATA)
    push(api, other, b"something else")  # B exists, just without this blob
    assert_error(api("GET", f"/v2/{other}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert api("HEAD", f"/v2/{other}/blobs/{digest}").status_code == 404
    assert_error(api("GET", f"/v2/{repo}-never-made/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert api("GET", f"/v2/{repo}/blobs/{digest}").status_code == 200


# -- Range requests (RFC 9110 §14) ---------------------------------------------------


@pytest.mark.parametrize(
    "range_header, first, last",
    [
        ("bytes=0-0", 0, 0),
        ("bytes=2-5", 2, 5),
        ("bytes=0-9", 0, 9),
        ("bytes=7-", 7, 9),  # open-ended
        ("bytes=0-", 0, 9),
        ("bytes=-3", 7, 9),  # suffix
        ("bytes=4-1000", 4, 9),  # last-pos past the end is clamped (RFC 9110 §14.1.2)
        ("bytes=-1000", 0, 9),  # suffix longer than the blob: the whole blob (RFC 9110 §14.1.2)
    ],
    ids=["first-byte", "middle", "whole", "open-ended", "open-from-zero", "suffix", "end-clamped",
         "suffix-longer-than-blob"],
)
def test_range_request_is_206_with_content_range(api, shared, range_header, first, last):
    """Pulling blobs: Range per RFC 9110 §14: a satisfiable bytes range is 206
    with exactly those bytes, Content-Range bytes first-last/size and a
    Content-Length of the span; issue: HEAD agrees with GET."""
    repo, digest = shared
    get = api("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
    assert get.status_code == 206, (get.status_code, get.text)
    assert get.content == DATA[first:last + 1]
    assert get.headers["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert get.headers["Content-Length"] == str(last - first + 1)
    assert get.headers["Docker-Content-Digest"] == digest
    assert get.headers["ETag"] == f'"{digest}"'
    head = api("HEAD", f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
    assert head.status_code == 206
    assert head.content == b""
    assert entity_headers(head) == entity_headers(get)


@pytest.mark.parametrize("range_header", ["bytes=10-", "bytes=10-20", "bytes=100-200"])
def test_unsatisfiable_range_is_416(api, shared, range_header):
    """RFC 9110 §15.5.17 / issue: a range starting at or past the end is
    unsatisfiable: 416 with Content-Range: bytes */<size>; HEAD agrees."""
    repo, digest = shared
    for method in ("GET", "HEAD"):
        r = api(method, f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
        assert r.status_code == 416, (method, r.status_code)
        assert r.headers["Content-Range"] == f"bytes */{len(DATA)}"


def test_range_on_zero_length_blob_is_416(api, repo):
    """RFC 9110 §14.1.1: no range of an empty representation is satisfiable:
    416 with Content-Range: bytes */0."""
    digest = push(api, repo, b"")
    r = api("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=0-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */0"


@pytest.mark.parametrize("range_header", ["bytes=5-2", "bytes=abc", "items=0-3"])
def test_invalid_or_foreign_range_is_ignored(api, shared, range_header):
    """RFC 9110 §14.2: a syntactically invalid Range, or one in units the server
    does not know, is ignored: 200 with the whole blob (416 only when unsatisfiable)."""
    repo, digest = shared
    r = api("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
    assert r.status_code == 200
    assert r.content == DATA
    assert "Content-Range" not in r.headers


@pytest.mark.parametrize("if_range", ['"sha256:0000"', 'W/"{digest}"', '"other"'],
                         ids=["other-digest", "weak-match", "other-etag"])
def test_if_range_not_matching_gives_full_200(api, shared, if_range):
    """Issue / RFC 9110 §13.1.5: If-Range with an ETag that does not strongly
    match ignores the Range: 200 with the full blob and no Content-Range."""
    repo, digest = shared
    r = api("GET", f"/v2/{repo}/blobs/{digest}",
            headers={"Range": "bytes=2-5", "If-Range": if_range.format(digest=digest)})
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["Content-Length"] == str(len(DATA))
    assert "Content-Range" not in r.headers


def test_if_range_matching_gives_206(api, shared):
    """RFC 9110 §13.1.5: If-Range naming the current (strong) ETag applies the
    Range: 206 with Content-Range, as without If-Range."""
    repo, digest = shared
    r = api("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=2-5", "If-Range": f'"{digest}"'})
    assert r.status_code == 206, (r.status_code, r.headers)
    assert r.content == DATA[2:6]
    assert r.headers["Content-Range"] == f"bytes 2-5/{len(DATA)}"


# -- DELETE -------------------------------------------------------------------------


def test_delete_blob(api, repo):
    """Deleting Blobs: DELETE is 202 (deletion is enabled on the test server);
    then GET is 404 BLOB_UNKNOWN, HEAD 404, and a second DELETE 404 BLOB_UNKNOWN."""
    digest = push(api, repo, DATA)
    r = api("DELETE", f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 202
    assert_error(api("GET", f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert api("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404
    assert_error(api("DELETE", f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_delete_unknown_blob_is_404(api, repo):
    """Deleting Blobs: if the blob is not found, 404 (BLOB_UNKNOWN)."""
    push(api, repo, DATA)
    assert_error(api("DELETE", f"/v2/{repo}/blobs/{digest_of(b'absent')}"), 404, "BLOB_UNKNOWN")


def test_delete_blob_only_unlinks_from_that_repository(api, repo):
    """Deleting Blobs / issue (blobs are per-repository links): deleting a blob
    from repo A leaves it pullable from repo B that also has it."""
    other = repo + "-b"
    digest = push(api, repo, DATA)
    push(api, other, DATA)
    assert api("DELETE", f"/v2/{repo}/blobs/{digest}").status_code == 202
    assert_error(api("GET", f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    r = api("GET", f"/v2/{other}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == DATA

"""Blob uploads over real HTTP: sessions, monolithic and chunked pushes, mounts,
and every error an upload can end in.

OCI Distribution Spec 1.1 "Pushing blobs", "Pushing a blob monolithically",
"Pushing a blob in chunks", "Cancel a blob upload", "Mounting a blob from
another repository" and "Error Codes", plus the issue's requirements (signed
``_state`` upload URLs, racing and load-balanced PATCHes).  Every test runs
once per storage driver (the ``api`` fixture).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from api.helpers import assert_error, raw_request

OCTET = "application/octet-stream"
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- helpers ----------------------------------------------------------------------


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def start(api, repo: str, **params) -> requests.Response:
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params=params or None, headers={"Content-Length": "0"})
    assert r.status_code == 202, (r.status_code, r.text)
    return r


def session(api, repo: str, **params) -> str:
    """A new upload session's Location."""
    return start(api, repo, **params).headers["Location"]


def with_query(url: str, **params) -> str:
    """``url`` with ``params`` added to (or replacing in) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def without_query(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode(query)))


def state_of(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["_state"]


def patch(api, location: str, data: bytes, start_at: int | None, **kwargs) -> requests.Response:
    headers = {"Content-Type": OCTET}
    if start_at is not None:
        headers["Content-Range"] = f"{start_at}-{start_at + len(data) - 1}"
    headers.update(kwargs.pop("headers", {}))
    return api("PATCH", location, data=data, headers=headers, **kwargs)


def put(api, location: str, digest: str, data: bytes = b"", headers: dict | None = None) -> requests.Response:
    h = {"Content-Type": OCTET} if data else {}
    h.update(headers or {})
    return api("PUT", with_query(location, digest=digest), data=data, headers=h)


def assert_created(api, r, repo: str, digest: str, data: bytes) -> None:
    """201 + Location (a pullable blob URL) + Docker-Content-Digest; the blob
    then serves exactly ``data`` from ``repo``."""
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers["Docker-Content-Digest"] == digest
    location = r.headers["Location"]
    assert urlsplit(location).path == f"/v2/{repo}/blobs/{digest}"
    got = api("GET", location)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Docker-Content-Digest"] == digest
    assert digest_of(got.content, digest.split(":")[0]) == digest


def assert_session(r, status: int, repo: str, received: int) -> str:
    """An upload session answer: ``status``, Location naming the upload,
    Docker-Upload-UUID, and Range 0-<last byte received> (0-0 when empty)."""
    assert r.status_code == status, (r.status_code, r.text)
    location = r.headers["Location"]
    upload_id = r.headers["Docker-Upload-UUID"]
    assert UUID_RE.fullmatch(upload_id), upload_id
    assert urlsplit(location).path == f"/v2/{repo}/blobs/uploads/{upload_id}"
    assert r.headers["Range"] == f"0-{max(received - 1, 0)}"
    return location


def flip(text: str, index: int) -> str:
    """``text`` with the base64url character at ``index`` changed to another one."""
    c = text[index]
    return text[:index] + ("B" if c == "A" else "A") + text[index + 1:]


def slow(data: bytes, pieces: int, delay: float):
    """A generator streaming ``data`` in ``pieces`` parts with ``delay`` between them."""
    step = -(-len(data) // pieces)
    for i in range(0, len(data), step):
        yield data[i:i + step]
        time.sleep(delay)


# -- POST: opening a session, single POST ---------------------------------------------


def test_post_opens_session(api, repo):
    """POST then PUT: POST /v2/<name>/blobs/uploads/ is 202 with Location
    containing the session id; issue: Docker-Upload-UUID and Range 0-0."""
    r = start(api, repo)
    location = assert_session(r, 202, repo, 0)
    assert r.headers["Docker-Upload-UUID"] in location
    assert r.headers["Content-Length"] == "0"
    assert "_state=" in location
    assert start(api, repo).headers["Docker-Upload-UUID"] != r.headers["Docker-Upload-UUID"]


def test_single_post_monolithic_push(api, repo):
    """Single POST: POST ?digest= with the body is 201 with Location (a pullable
    blob URL) and Docker-Content-Digest."""
    data = os.urandom(3000)
    digest = digest_of(data)
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data,
            headers={"Content-Type": OCTET})
    assert_created(api, r, repo, digest, data)


def test_single_post_wrong_digest(api, repo):
    """Single POST: the <digest> MUST match the blob's digest: a mismatch is
    400 DIGEST_INVALID and nothing is stored."""
    data = b"single post body"
    wrong = digest_of(b"something else")
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": wrong}, data=data)
    assert_error(r, 400, "DIGEST_INVALID")
    assert api("HEAD", f"/v2/{repo}/blobs/{wrong}").status_code == 404
    assert api("HEAD", f"/v2/{repo}/blobs/{digest_of(data)}").status_code == 404


def test_post_then_put_monolithic(api, repo):
    """POST then PUT: PUT <location>?digest= with the whole body is 201 with
    Location and Docker-Content-Digest; the upload is then gone (404 BLOB_UPLOAD_UNKNOWN)."""
    data = os.urandom(5000)
    digest = digest_of(data)
    location = session(api, repo)
    r = put(api, location, digest, data)
    assert_created(api, r, repo, digest, data)
    assert_error(api("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")


# -- zero-length and sha512 blobs ---------------------------------------------------


def test_zero_length_blob_single_post(api, repo):
    """Single POST / issue: the empty blob sha256:e3b0c442... pushed monolithically is 201."""
    assert digest_of(b"") == EMPTY_SHA256
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": EMPTY_SHA256}, data=b"")
    assert_created(api, r, repo, EMPTY_SHA256, b"")
    assert api("HEAD", f"/v2/{repo}/blobs/{EMPTY_SHA256}").headers["Content-Length"] == "0"


def test_zero_length_blob_post_then_put(api, repo):
    """POST then PUT / issue: the empty blob by POST and a bodiless PUT ?digest=sha256:e3b0c442... is 201."""
    location = session(api, repo)
    r = put(api, location, EMPTY_SHA256, b"", headers={"Content-Length": "0"})
    assert_created(api, r, repo, EMPTY_SHA256, b"")


def test_sha512_upload_via_digest_algorithm(api, repo):
    """Pushing a blob in chunks: POST ?digest-algorithm=sha512 opens a session
    whose chunks are closed by PUT ?digest=sha512:... (201)."""
    data = os.urandom(4096 + 17)
    digest = digest_of(data, "sha512")
    location = assert_session(start(api, repo, **{"digest-algorithm": "sha512"}), 202, repo, 0)
    r = patch(api, location, data[:4096], 0)
    location = assert_session(r, 202, repo, 4096)
    r = put(api, location, digest, data[4096:], headers={"Content-Range": f"4096-{len(data) - 1}"})
    assert_created(api, r, repo, digest, data)


def test_sha512_upload_wrong_digest(api, repo):
    """Pushing blobs / Error Codes: a sha512 session closed with a sha512 digest
    that does not match is 400 DIGEST_INVALID; nothing is stored."""
    data = os.urandom(1000)
    wrong = digest_of(b"not it", "sha512")
    location = session(api, repo, **{"digest-algorithm": "sha512"})
    assert patch(api, location, data, 0).status_code == 202
    assert_error(put(api, location, wrong), 400, "DIGEST_INVALID")
    assert api("HEAD", f"/v2/{repo}/blobs/{wrong}").status_code == 404
    assert api("HEAD", f"/v2/{repo}/blobs/{digest_of(data, 'sha512')}").status_code == 404


def test_sha512_single_post(api, repo):
    """Single POST: POST ?digest=sha512:... with the body is 201 under the sha512 digest."""
    data = os.urandom(777)
    digest = digest_of(data, "sha512")
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data)
    assert_created(api, r, repo, digest, data)


def test_sha256_session_closed_with_sha512_digest(api, repo):
    """Pushing blobs: the closing PUT's digest names the whole blob; a session
    opened for sha256 still verifies and stores a blob closed with its sha512 digest."""
    data = os.urandom(2048)
    digest = digest_of(data, "sha512")
    location = session(api, repo)
    assert patch(api, location, data, 0).status_code == 202
    assert_created(api, put(api, location, digest), repo, digest, data)


# -- chunked uploads ----------------------------------------------------------------


def test_chunked_upload_with_content_range(api, repo):
    """Pushing a blob in chunks: each PATCH with an inclusive Content-Range is
    202 with Location and Range: 0-<last byte>; the closing PUT ?digest= without
    a body is 201 with Location and Docker-Content-Digest."""
    data = os.urandom(10_000)
    digest = digest_of(data)
    location = session(api, repo)
    upload_id = urlsplit(location).path.rsplit("/", 1)[1]
    for first, last in ((0, 999), (1000, 1000), (1001, 6999), (7000, 9999)):
        r = patch(api, location, data[first:last + 1], first)
        location = assert_session(r, 202, repo, last + 1)
        assert r.headers["Docker-Upload-UUID"] == upload_id
    r = put(api, location, digest)
    assert_created(api, r, repo, digest, data)


def test_chunked_upload_final_chunk_in_put(api, repo):
    """Pushing a blob in chunks: the final chunk MAY be uploaded in the closing
    PUT (with Content-Range and Content-Length): 201."""
    data = os.urandom(6000)
    digest = digest_of(data)
    location = session(api, repo)
    location = assert_session(patch(api, location, data[:4000], 0), 202, repo, 4000)
    r = put(api, location, digest, data[4000:], headers={"Content-Range": "4000-5999"})
    assert_created(api, r, repo, digest, data)


def test_put_final_chunk_without_content_range(api, repo):
    """Pushing a blob in chunks: the final chunk in the closing PUT is appended
    at the current offset even without Content-Range: 201."""
    data = os.urandom(3000)
    digest = digest_of(data)
    location = session(api, repo)
    location = assert_session(patch(api, location, data[:1000], 0), 202, repo, 1000)
    assert_created(api, put(api, location, digest, data[1000:]), repo, digest, data)


@pytest.mark.parametrize("first", [0, 999, 1001, 1500], ids=["replayed", "overlapping-by-one", "gap-of-one", "gap"])
def test_out_of_order_chunk_is_416(api, repo, first):
    """Pushing a blob in chunks: chunks MUST be in order; an out-of-order,
    replayed or gapped chunk is 416 with the current Range and BLOB_UPLOAD_INVALID,
    and the upload carries on from where it was."""
    data = os.urandom(2000)
    location = session(api, repo)
    location = assert_session(patch(api, location, data[:1000], 0), 202, repo, 1000)
    r = patch(api, location, os.urandom(100), first)
    assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert r.headers["Range"] == "0-999"
    status = api("GET", location)
    assert_session(status, 204, repo, 1000)
    location = assert_session(patch(api, location, data[1000:], 1000), 202, repo, 2000)
    assert_created(api, put(api, location, digest_of(data)), repo, digest_of(data), data)


def test_first_chunk_not_at_zero_is_416(api, repo):
    """Pushing a blob in chunks: the first chunk's range MUST begin with 0;
    otherwise 416 BLOB_UPLOAD_INVALID with Range 0-0 (nothing received)."""
    location = session(api, repo)
    r = patch(api, location, b"abc", 5)
    assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert r.headers["Range"] == "0-0"


def test_final_chunk_out_of_order_in_put_is_416(api, repo):
    """Pushing a blob in chunks: if the final chunk (in the PUT) is uploaded out
    of order, the registry MUST respond 416; the session survives."""
    data = os.urandom(2000)
    location = session(api, repo)
    location = assert_session(patch(api, location, data[:1000], 0), 202, repo, 1000)
    r = put(api, location, digest_of(data), data[1000:], headers={"Content-Range": "1500-2499"})
    assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert r.headers["Range"] == "0-999"
    assert api("HEAD", f"/v2/{repo}/blobs/{digest_of(data)}").status_code == 404
    r = put(api, location, digest_of(data), data[1000:], headers={"Content-Range": "1000-1999"})
    assert_created(api, r, repo, digest_of(data), data)


def test_streamed_patch_without_content_range(api, repo):
    """Pushing a blob in chunks (Docker's streamed upload) / issue: PATCHes with
    Transfer-Encoding: chunked and no Content-Range append at the current offset (202, Range)."""
    parts = [os.urandom(70_000), os.urandom(12_345)]
    data = b"".join(parts)
    location = session(api, repo)
    received = 0
    for part in parts:
        r = api("PATCH", location, data=slow(part, 5, 0), headers={"Content-Type": OCTET})
        assert r.request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in r.request.headers
        received += len(part)
        location = assert_session(r, 202, repo, received)
    assert_created(api, put(api, location, digest_of(data)), repo, digest_of(data), data)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_content_length_differs_from_content_range(api, repo, method):
    """Pushing a blob in chunks / issue: a Content-Length that differs from the
    Content-Range span is 400 BLOB_UPLOAD_INVALID, and nothing is appended."""
    data = os.urandom(100)
    location = session(api, repo)
    headers = {"Content-Type": OCTET, "Content-Range": "0-49"}  # the body is 100 bytes
    url = with_query(location, digest=digest_of(data)) if method == "PUT" else location
    r = api(method, url, data=data, headers=headers)
    assert_error(r, 400, "BLOB_UPLOAD_INVALID")
    assert_session(api("GET", location), 204, repo, 0)


# -- PUT with a wrong digest ------------------------------------------------------------


@pytest.mark.parametrize("how", ["after-patch", "chunk-in-put", "monolithic-put", "other-algorithm"])
def test_put_wrong_digest_stores_nothing(api, repo, how):
    """Pushing blobs / Error Codes: a closing PUT whose digest does not match is
    400 DIGEST_INVALID; issue: nothing is stored (blob GET 404) and the upload is
    gone (GET status 404 BLOB_UPLOAD_UNKNOWN)."""
    data = os.urandom(1500)
    wrong = digest_of(b"a different blob", "sha512" if how == "other-algorithm" else "sha256")
    location = session(api, repo)
    if how == "after-patch" or how == "other-algorithm":
        location = assert_session(patch(api, location, data, 0), 202, repo, len(data))
        r = put(api, location, wrong)
    elif how == "chunk-in-put":
        location = assert_session(patch(api, location, data[:500], 0), 202, repo, 500)
        r = put(api, location, wrong, data[500:], headers={"Content-Range": f"500-{len(data) - 1}"})
    else:
        r = put(api, location, wrong, data)
    assert_error(r, 400, "DIGEST_INVALID")
    for digest in (wrong, digest_of(data), digest_of(data, "sha512")):
        assert_error(api("GET", f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(api("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")


# -- status and cancel -------------------------------------------------------------------


def test_upload_status(api, repo):
    """Pushing a blob in chunks: GET <location> of an active upload is 204 with
    Location and Range: 0-<end-of-range>; the Location returned is usable."""
    location = session(api, repo)
    r = api("GET", location)
    status_location = assert_session(r, 204, repo, 0)
    assert r.content == b""
    data = os.urandom(300)
    assert_session(patch(api, status_location, data[:200], 0), 202, repo, 200)
    r = api("GET", status_location)
    status_location = assert_session(r, 204, repo, 200)
    assert patch(api, status_location, data[200:], 200).status_code == 202
    assert_created(api, put(api, status_location, digest_of(data)), repo, digest_of(data), data)


def test_cancel_upload(api, repo):
    """Cancel a blob upload: DELETE <location> is 204; afterwards the upload is
    404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE."""
    data = b"cancelled"
    location = session(api, repo)
    location = assert_session(patch(api, location, data, 0), 202, repo, len(data))
    r = api("DELETE", location, headers={"Content-Length": "0"})
    assert r.status_code == 204
    assert_error(api("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch(api, location, b"more", len(data)), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(put(api, location, digest_of(data)), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api("DELETE", location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert api("HEAD", f"/v2/{repo}/blobs/{digest_of(data)}").status_code == 404


def test_finished_upload_is_unknown(api, repo):
    """Endpoints end-5/6/13/14 (404) / issue: once an upload is finished its URL
    is 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE; the blob stays."""
    data = b"finished"
    location = session(api, repo)
    assert_created(api, put(api, location, digest_of(data), data), repo, digest_of(data), data)
    assert_error(api("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch(api, location, b"x", 0), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(put(api, location, digest_of(data), data), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api("DELETE", location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert api("GET", f"/v2/{repo}/blobs/{digest_of(data)}").content == data


@pytest.mark.parametrize("upload_id", ["random-uuid", "not-a-uuid"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_upload_id_is_404(api, repo, upload_id, method):
    """Endpoints end-5/6/13/14 / Error Codes: an upload id that does not exist
    is 404 BLOB_UPLOAD_UNKNOWN."""
    session(api, repo)  # the repository has uploads, just not this one
    upload_id = str(uuid.uuid4()) if upload_id == "random-uuid" else "nonexistent-upload"
    url = f"/v2/{repo}/blobs/uploads/{upload_id}"
    if method == "PUT":
        url += f"?digest={digest_of(b'')}"
    r = api(method, url, data=b"x" if method == "PATCH" else None)
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


# -- the signed _state token ---------------------------------------------------------------


@pytest.mark.parametrize("part", ["payload", "mac"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_tampered_state_token(api, repo, part, method):
    """Issue: an upload URL whose _state token was tampered with (a character of
    its payload or of its MAC flipped) is 400 BLOB_UPLOAD_INVALID whose detail
    names http.secret; the real upload is untouched."""
    location = session(api, repo)
    token = state_of(location)
    payload, mac = token.split(".")
    if part == "payload":
        bad = flip(payload, len(payload) // 2) + "." + mac
    else:
        bad = payload + "." + flip(mac, len(mac) // 2)
    url = with_query(location, _state=bad)
    if method == "PUT":
        url = with_query(url, digest=digest_of(b"x"))
    r = api(method, url, data=b"x" if method in ("PATCH", "PUT") else None)
    error = assert_error(r, 400, "BLOB_UPLOAD_INVALID")
    assert "http.secret" in json.dumps(error.get("detail")), error
    assert_session(api("GET", location), 204, repo, 0)


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT"])
def test_missing_state_token(api, repo, method):
    """Issue: an upload URL without its _state token is 400 BLOB_UPLOAD_INVALID."""
    location = session(api, repo)
    url = without_query(location, "_state")
    if method == "PUT":
        url = with_query(url, digest=digest_of(b"x"))
    r = api(method, url, data=b"x" if method in ("PATCH", "PUT") else None)
    assert_error(r, 400, "BLOB_UPLOAD_INVALID")
    assert_session(api("GET", location), 204, repo, 0)


def test_state_token_of_another_upload(api, repo):
    """Issue (signed upload URLs): a valid _state token of one upload does not
    open another upload: 400 BLOB_UPLOAD_INVALID."""
    first = session(api, repo)
    second = session(api, repo)
    url = with_query(second, _state=state_of(first))
    assert_error(api("GET", url), 400, "BLOB_UPLOAD_INVALID")


# -- digests and names ------------------------------------------------------------------------

BAD_DIGESTS = {
    "md5": "md5:" + hashlib.md5(b"x").hexdigest(),
    "sha384": "sha384:" + hashlib.sha384(b"x").hexdigest(),
    "short-hex": "sha256:abc123",
    "uppercase-hex": "sha256:" + hashlib.sha256(b"x").hexdigest().upper(),
    "no-algorithm": hashlib.sha256(b"x").hexdigest(),
    "empty-hex": "sha256:",
    "garbage": "not a digest!",
}


@pytest.mark.parametrize("bad", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
def test_bad_digest_on_single_post(api, repo, bad):
    """Pushing blobs: a client digest that is invalid or uses an unsupported
    algorithm is 400; Error Codes: DIGEST_INVALID.  Nothing is stored."""
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": bad}, data=b"x")
    assert_error(r, 400, "DIGEST_INVALID")
    assert api("HEAD", f"/v2/{repo}/blobs/{digest_of(b'x')}").status_code == 404


@pytest.mark.parametrize("bad", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
def test_bad_digest_on_closing_put(api, repo, bad):
    """Pushing blobs: the closing PUT with an invalid or unsupported digest is
    400 DIGEST_INVALID; nothing is stored."""
    location = session(api, repo)
    assert_error(put(api, location, bad, b"x"), 400, "DIGEST_INVALID")
    assert api("HEAD", f"/v2/{repo}/blobs/{digest_of(b'x')}").status_code == 404


@pytest.mark.parametrize("bad", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
def test_bad_digest_on_mount(api, repo, bad):
    """Mounting a blob / Pushing blobs: ?mount= with an invalid or unsupported
    digest is 400 DIGEST_INVALID."""
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": bad, "from": repo + "-src"})
    assert_error(r, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("algorithm", ["md5", "sha384", "SHA256"])
def test_unsupported_digest_algorithm_parameter(api, repo, algorithm):
    """Pushing a blob in chunks (digest-algorithm) / Pushing blobs: an unsupported
    algorithm is 400 DIGEST_INVALID."""
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest-algorithm": algorithm})
    assert_error(r, 400, "DIGEST_INVALID")


INVALID_NAMES = {
    "uppercase": "Test/Repo",
    "dot-dot-component": "a/../b",
    "dot-dot-leading": "../etc",
    "dot-dot-encoded": "a/%2E%2E/b",
    "dot-dot-inside": "a..b/c",
    "leading-slash": "/leading",
    "double-slash": "a//b",
    "trailing-separator": "a-/b",
    "too-long": "a" * 128 + "/" + "b" * 127,  # 256 characters
}


@pytest.mark.parametrize("name", INVALID_NAMES.values(), ids=INVALID_NAMES.keys())
def test_invalid_repository_name(api, name):
    """Error Codes: NAME_INVALID for a name outside the spec's <name> grammar
    (uppercase, ``..``, a leading slash, an empty component) or longer than 255
    characters: 400 on upload POST, single POST and blob GET, sent byte for byte
    (no client-side path normalisation), and as the from= of a mount."""
    digest = digest_of(b"x")
    for method, target, body in (
        ("POST", f"/v2/{name}/blobs/uploads/", None),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", b"x"),
        ("GET", f"/v2/{name}/blobs/{digest}", None),
    ):
        r = raw_request(api, method, target, body=body)
        assert_error(r, 400, "NAME_INVALID")
    from_name = urlencode({"from": name.replace("%2E", ".")})
    r = api("POST", f"/v2/test/valid-name/blobs/uploads/?mount={digest}&{from_name}")
    assert_error(r, 400, "NAME_INVALID")


def test_longest_valid_repository_name(api):
    """Pulling/Pushing (<name> at most 255 characters): a 255-character name is valid."""
    name = "a" * 127 + "/" + uuid.uuid4().hex + "b" * 95
    assert len(name) == 255
    data = b"long name"
    r = api("POST", f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(data)}, data=data)
    assert_created(api, r, name, digest_of(data), data)


# -- mounts ---------------------------------------------------------------------------------


def push(api, repo: str, data: bytes) -> str:
    digest = digest_of(data)
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data)
    assert r.status_code == 201, r.text
    return digest


def test_mount_from_repository_with_blob(api, repo):
    """Mounting a blob: POST ?mount=<digest>&from=<other> of a blob in <other>
    is 201 with Location and Docker-Content-Digest; the blob is then in both."""
    source = repo + "-src"
    data = os.urandom(1234)
    digest = push(api, source, data)
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": source})
    assert_created(api, r, repo, digest, data)
    assert api("GET", f"/v2/{source}/blobs/{digest}").content == data


def test_mount_from_repository_without_blob_opens_session(api, repo):
    """Mounting a blob: when the blob cannot be mounted from <other> (it lacks
    it, though another repository has it) the answer is a 202 session that can
    be completed; the blob stays out of <name> until then."""
    data = os.urandom(999)
    digest = push(api, repo + "-holder", data)  # exists in the registry, not in the source
    source = repo + "-src"
    push(api, source, b"source exists")
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": source})
    location = assert_session(r, 202, repo, 0)
    assert api("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404
    location = assert_session(patch(api, location, data, 0), 202, repo, len(data))
    assert_created(api, put(api, location, digest), repo, digest, data)


def test_mount_without_from_finds_blob_anywhere(api, repo):
    """Mounting a blob: the registry MAY treat from as optional and mount a blob
    it can find; issue: ?mount= without from of a blob anywhere in the registry is 201."""
    data = os.urandom(321)
    digest = push(api, repo + "-elsewhere", data)
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest})
    assert_created(api, r, repo, digest, data)


def test_mount_without_from_of_unknown_blob_opens_session(api, repo):
    """Mounting a blob / issue: ?mount= (no from) of a blob that exists nowhere
    is a 202 session that can be completed with that very blob."""
    data = os.urandom(555)
    digest = digest_of(data)
    r = api("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest})
    location = assert_session(r, 202, repo, 0)
    assert_created(api, put(api, location, digest, data), repo, digest, data)


# -- concurrency, connections and size -----------------------------------------------------------


def test_racing_patches_on_same_offset(api, repo):
    """Issue (uploads are durable state, not worker memory): two PATCHes racing
    from the same offset, each slow-streaming: exactly one is 202, the other 416
    BLOB_UPLOAD_INVALID with a Range header; the upload then completes with the
    winner's bytes."""
    location = session(api, repo)
    bodies = [os.urandom(64 * 1024), os.urandom(64 * 1024)]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def send(i):
        with requests.Session() as s:
            barrier.wait()
            results[i] = s.patch(location, data=slow(bodies[i], 8, 0.05), allow_redirects=False,
                                 headers={"Content-Type": OCTET, "Content-Range": f"0-{len(bodies[i]) - 1}"},
                                 timeout=30)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [202, 416], [(r.status_code, r.text) for r in results]
    winner = next(i for i, r in enumerate(results) if r.status_code == 202)
    loser = results[1 - winner]
    assert_error(loser, 416, "BLOB_UPLOAD_INVALID")
    assert re.fullmatch(r"0-[0-9]+", loser.headers["Range"])
    assert loser.headers["Range"] in ("0-0", f"0-{len(bodies[winner]) - 1}")
    location = assert_session(results[winner], 202, repo, len(bodies[winner]))
    assert_session(api("GET", location), 204, repo, len(bodies[winner]))
    data = bodies[winner]
    assert_created(api, put(api, location, digest_of(data)), repo, digest_of(data), data)


def test_patches_over_separate_connections(api, repo):
    """Issue (any worker can take the next request): PATCHes alternating between
    separate requests.Session objects (new connections) complete with the right digest."""
    data = os.urandom(6 * 50_000 + 7)
    sessions = [requests.Session() for _ in range(3)]
    try:
        location = session(api, repo)
        offset, step, turn = 0, 50_000, 0
        while offset < len(data):
            chunk = data[offset:offset + step]
            http = sessions[turn % len(sessions)]
            r = http.patch(location, data=chunk, allow_redirects=False, headers={
                "Content-Type": OCTET, "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                "Connection": "close" if turn % 2 else "keep-alive"})
            offset += len(chunk)
            location = assert_session(r, 202, repo, offset)
            turn += 1
        r = sessions[turn % len(sessions)].put(with_query(location, digest=digest_of(data)), allow_redirects=False)
        assert_created(api, r, repo, digest_of(data), data)
    finally:
        for s in sessions:
            s.close()


def test_large_chunked_upload_verifies_digest(api, repo):
    """Pushing a blob in chunks / issue: a 20 MiB blob in 3 MiB chunks is
    assembled in order and its digest verified (201; a wrong digest would be 400)."""
    size, step = 20 << 20, 3 << 20
    data = os.urandom(size)
    digest = digest_of(data)
    location = session(api, repo)
    for first in range(0, size, step):
        chunk = data[first:first + step]
        location = assert_session(patch(api, location, chunk, first), 202, repo, first + len(chunk))
    r = put(api, location, digest)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    head = api("HEAD", r.headers["Location"])
    assert head.headers["Content-Length"] == str(size)
    got = api("GET", r.headers["Location"])
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == digest.split(":")[1]


def test_concurrent_uploads_of_one_blob_all_succeed(api, repo):
    """Issue: "concurrent uploads of the same blob all succeed" (commit is atomic; the blob is stored once)."""
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    results: list[int] = []

    def push(n: int) -> None:
        with requests.Session() as http:
            location = http.post(f"{api.url}/v2/{repo}-{n}/blobs/uploads/").headers["Location"]
            response = http.patch(location, data=(data[i:i + 65536] for i in range(0, len(data), 65536)))
            results.append(http.put(response.headers["Location"] + f"&digest={digest}").status_code)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [201] * 6
    for n in range(6):
        got = api("GET", f"/v2/{repo}-{n}/blobs/{digest}")
        assert got.status_code == 200
        assert got.content == data

"""Adversarial regression tests: hostile bodies, malformed HTTP framing, racing requests.

Each test states the input that broke the registry and the behaviour the spec (or HTTP) requires.
Raw sockets are used where ``requests`` would normalise the input (chunk framing, header order).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from api.helpers import OCI_MANIFEST, assert_error, error_body, push_image, sha256

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- raw HTTP ------------------------------------------------------------------------------------------


def _raw(api, data: bytes, *, half_close: bool = False, timeout: float = 10) -> bytes:
    """Send ``data`` as is on a fresh connection; the whole answer (the server closes)."""
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                block = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not block:
                break
            out += block
    return out


class _Answer:
    def __init__(self, data: bytes):
        head, _, self.content = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines and lines[0].startswith("HTTP/1."), data[:300]
        self.status_code = int(lines[0].split()[1])
        self.headers = requests.structures.CaseInsensitiveDict(
            line.split(":", 1) for line in lines[1:] if ":" in line
        )
        for key, value in list(self.headers.items()):
            self.headers[key] = value.strip()


def _upload_target(api, repo: str) -> tuple[str, str]:
    """A new upload: its full URL and its request target (path?query)."""
    resp = api("POST", f"/v2/{repo}/blobs/uploads/")
    assert resp.status_code == 202, resp.content[:300]
    location = resp.headers["Location"]
    parts = urlsplit(location)
    return location, f"{parts.path}?{parts.query}"


# -- manifests that are not interoperable JSON ---------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","annotations":'
    + b"[" * 100_000 + b"]" * 100_000 + b"}",
], ids=["array", "object", "inside-manifest"])
def test_deeply_nested_json_manifest_is_manifest_invalid(api, repo, body):
    """Input: a manifest PUT whose body is JSON nested 50,000-100,000 levels deep (well under the 4 MiB
    limit).  Python's json raises RecursionError, which escaped as 500 UNKNOWN.  A body the registry
    cannot accept as a manifest is the client's error: spec "Pushing Manifests" / "Error Codes" say
    400 MANIFEST_INVALID, and nothing may be stored under the tag."""
    resp = api("PUT", f"/v2/{repo}/manifests/deep", data=body, headers={"Content-Type": OCI_MANIFEST})
    assert_error(resp, 400, "MANIFEST_INVALID")
    assert_error(api("GET", f"/v2/{repo}/manifests/deep"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("encode", [
    lambda b: b.decode().encode("utf-16"),
    lambda b: b.decode().encode("utf-16-le"),
    lambda b: b.decode().encode("utf-32"),
    lambda b: b"\xef\xbb\xbf" + b,
    lambda b: b[:-1] + b',"x":NaN}',
    lambda b: b[:-1] + b',"x":-Infinity}',
], ids=["utf-16-bom", "utf-16-le", "utf-32", "utf-8-bom", "NaN", "Infinity"])
def test_manifest_that_is_not_rfc8259_json_is_rejected(api, repo, encode):
    """Input: a valid image manifest re-encoded as UTF-16/UTF-32, prefixed with a UTF-8 BOM, or
    carrying a NaN/Infinity literal.  Python's json.loads(bytes) sniffs UTF-16/32, skips the BOM and
    accepts NaN, so the registry answered 201 and served those bytes; Go clients (skopeo, docker,
    containerd, Distribution itself) then fail with "invalid character 'ÿ' looking for beginning of
    value".  Manifests are JSON exchanged between systems, which RFC 8259 §8.1/§6 requires to be UTF-8
    without a BOM and without NaN/Infinity: 400 MANIFEST_INVALID, nothing stored."""
    image = push_image(api, repo)
    body = encode(image.data)
    resp = api("PUT", f"/v2/{repo}/manifests/enc", data=body, headers={"Content-Type": OCI_MANIFEST})
    assert_error(resp, 400, "MANIFEST_INVALID")
    assert_error(api("GET", f"/v2/{repo}/manifests/{sha256(body)}"), 404, "MANIFEST_UNKNOWN")


# -- malformed chunked request bodies ------------------------------------------------------------------


BAD_CHUNKS = {
    "bad-size": (b"zz\r\nabc\r\n0\r\n\r\n", False),
    "missing-crlf": (b"3\r\nabcXX0\r\n\r\n", False),
    "truncated": (b"3\r\nabc\r\n5\r\nab", True),
}


def _chunked(method: str, target: str, body: bytes, content_type: str = "application/octet-stream") -> bytes:
    return (f"{method} {target} HTTP/1.1\r\nHost: registry\r\nContent-Type: {content_type}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + body


@pytest.mark.parametrize("framing", list(BAD_CHUNKS))
def test_malformed_chunked_manifest_body_is_400(api, repo, framing):
    """Input: PUT /v2/<name>/manifests/<tag> with Transfer-Encoding: chunked and a broken chunk
    (non-hex size, missing CRLF after the chunk data, connection half-closed mid-chunk).
    gunicorn raises InvalidChunkSize/ChunkMissingTerminator/NoMoreData while the view reads the body
    and the catch-all answered 500 UNKNOWN.  A malformed request is the client's error (RFC 9110
    §15.5.1): 400 with the spec's JSON body (MANIFEST_INVALID), nothing stored."""
    body, half_close = BAD_CHUNKS[framing]
    answer = _Answer(_raw(api, _chunked("PUT", f"/v2/{repo}/manifests/chunk", body, OCI_MANIFEST),
                          half_close=half_close))
    assert_error(answer, 400, "MANIFEST_INVALID")
    assert_error(api("GET", f"/v2/{repo}/manifests/chunk"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("framing", list(BAD_CHUNKS))
@pytest.mark.parametrize("how", ["patch", "closing-put", "single-post"])
def test_malformed_chunked_blob_body_is_400_and_upload_resumable(api, repo, framing, how):
    """Input: a blob chunk (PATCH), the closing PUT or the single-POST push sent with
    Transfer-Encoding: chunked and a broken chunk (see the manifest test).  Each answered 500 UNKNOWN.
    Expected: 400 BLOB_UPLOAD_INVALID (spec "Error Codes": the upload request was invalid), no blob
    created, and a session upload still at offset 0 (status 204, Range 0-0) so the client can resume."""
    body, half_close = BAD_CHUNKS[framing]
    digest = sha256(b"abc")
    location = None
    if how == "single-post":
        request = _chunked("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", body)
    else:
        location, target = _upload_target(api, repo)
        request = _chunked("PATCH" if how == "patch" else "PUT",
                           target if how == "patch" else f"{target}&digest={digest}", body)
    answer = _Answer(_raw(api, request, half_close=half_close))
    assert_error(answer, 400, "BLOB_UPLOAD_INVALID")
    assert_error(api("GET", f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    if location is not None:
        status = api("GET", location)
        assert status.status_code == 204 and status.headers["Range"] == "0-0", (status.status_code, status.content)


# -- gunicorn's own parse errors -------------------------------------------------------------------------


@pytest.mark.parametrize("request_bytes", [
    b"PUT /v2/x/manifests/a HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n0\r\n\r\n",
    b"PUT /v2/x/manifests/a HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\nContent-Length: 3\r\n"
    b"Connection: close\r\n\r\n{}",
    "GET /v2/\uff41/tags/list HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n".encode(),
    b"GET /v2/ HTTP/1.1\r\nHost: r\r\nno-colon-here\r\nConnection: close\r\n\r\n",
], ids=["cl-and-te", "two-content-lengths", "raw-utf8-in-target", "header-without-colon"])
def test_http_parse_errors_answer_json(api, request_bytes):
    """Input: requests gunicorn's parser rejects before the app runs (Content-Length together with
    Transfer-Encoding, two different Content-Lengths, raw non-ASCII bytes in the request target, a
    header line without a colon).  Rejecting them with 400 is right (RFC 9112 §6.3, §3.2), but the
    body was gunicorn's HTML page (Content-Type: text/html), while this API answers every error with
    the spec's JSON body ("Error Codes") and never HTML."""
    answer = _Answer(_raw(api, request_bytes))
    assert answer.status_code == 400, answer.content[:300]
    error_body(answer)


# -- races between requests of one upload ----------------------------------------------------------------


def _race_patch_against_close(api, repo: str, size: int = 1000):
    """One upload holding ``size`` bytes; a closing PUT (digest of those bytes) races four clients
    sending PATCHes that append 4 bytes at the current offset.  Returns (put status, patch statuses, GET blob response)."""
    data = os.urandom(size)
    digest = sha256(data)
    location, _ = _upload_target(api, repo)
    resp = api("PATCH", location, data=data, headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 202, resp.content[:300]
    location = resp.headers["Location"]
    sep = "&" if "?" in location else "?"
    start = threading.Event()
    result: dict = {"patches": []}

    def close():
        with requests.Session() as s:
            start.wait()
            result["put"] = s.put(f"{location}{sep}digest={digest}")

    def append():
        with requests.Session() as s:
            start.wait()
            while "put" not in result:
                r = s.patch(location, data=b"EVIL",
                            headers={"Content-Range": f"{size}-{size + 3}", "Content-Type": "application/octet-stream"})
                result["patches"].append((r.status_code, r.content[:200]))

    threads = [threading.Thread(target=close)] + [threading.Thread(target=append) for _ in range(4)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(30)
    got = api("GET", f"/v2/{repo}/blobs/{digest}", allow_redirects=True)
    return digest, result["put"], result["patches"], got


def test_patch_racing_the_closing_put_never_corrupts_the_blob(api, repo):
    """Input: a closing PUT ?digest=D of an upload racing PATCHes (Content-Range at the current offset)
    on the same upload.  On the filesystem driver the PUT released the upload's lock before moving the
    data file into the blob store, so a PATCH slipped in, appended its bytes to the very file that
    became blob D: GET /v2/<name>/blobs/D then served D's bytes + "EVIL" (content no longer matching
    its digest, stored once for every repository), and some races answered 500 (FileNotFoundError).

    Required: content-addressed storage never serves bytes that do not hash to their digest (spec
    "Pulling blobs"); the requests are serialised, so if the PUT is 201 no PATCH of that upload may
    have been accepted (202) and vice versa the PATCH would have made the PUT's digest wrong; no 500s."""
    deadline = time.monotonic() + 8
    failures: list = []
    attempts = [0]

    def race_until_deadline():
        while time.monotonic() < deadline and attempts[0] < 400 and not failures:
            attempts[0] += 1
            digest, put, patches, got = _race_patch_against_close(api, repo)
            statuses = [s for s, _ in patches]
            if put.status_code >= 500 or any(s >= 500 for s in statuses):
                failures.append(("500", put.status_code, put.content[:200], patches[-3:]))
            if got.status_code == 200 and sha256(got.content) != digest:
                failures.append(("corrupt blob", digest, len(got.content), got.content[-8:]))
            if put.status_code == 201 and 202 in statuses:
                failures.append(("PATCH accepted and PUT 201", statuses))

    racers = [threading.Thread(target=race_until_deadline) for _ in range(4)]
    for t in racers:
        t.start()
    for t in racers:
        t.join(60)
    assert not failures, (attempts, failures)


def test_racing_closing_puts_never_500(api, repo):
    """Input: four identical closing PUTs (?digest=D, the whole blob in the body) of one upload sent at
    the same moment.  On the filesystem driver the loser's writer opened the data file after the
    winner had moved it away (FileNotFoundError), or made directories inside the upload directory the
    winner was deleting (FileExistsError from os.makedirs), and answered 500 UNKNOWN.

    Required: one PUT is 201; each other one is 201 (idempotent), 404 BLOB_UPLOAD_UNKNOWN (the session is
    gone) or 416 (conflict), never 500; the blob is D's bytes."""
    deadline = time.monotonic() + 4
    failures = []
    attempts = 0
    while time.monotonic() < deadline and attempts < 200 and not failures:
        attempts += 1
        data = os.urandom(1000)
        digest = sha256(data)
        location, _ = _upload_target(api, repo)
        start = threading.Event()
        answers = []

        def close():
            with requests.Session() as s:
                start.wait()
                answers.append(s.put(f"{location}&digest={digest}", data=data,
                                     headers={"Content-Type": "application/octet-stream"}))

        threads = [threading.Thread(target=close) for _ in range(4)]
        for t in threads:
            t.start()
        start.set()
        for t in threads:
            t.join(30)
        codes = sorted(a.status_code for a in answers)
        if codes[0] != 201 or any(c not in (201, 404, 416) for c in codes[1:]):
            failures.append((codes, [a.content[:200] for a in answers]))
        got = api("GET", f"/v2/{repo}/blobs/{digest}", allow_redirects=True)
        if got.status_code != 200 or got.content != data:
            failures.append(("blob", got.status_code, len(got.content)))
    assert not failures, (attempts, failures)


# -- configuration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level,expected", [("warn", "WARNING"), ("error", "ERROR"), ("debug", "DEBUG")])
def test_log_level_reaches_gunicorn(level, expected):
    """Input: REGISTRY_LOG_LEVEL=warn (README: log.level is one of error, warn, info, debug).
    gunicorn_settings passes "warn" straight to gunicorn, whose level table only knows "warning", so
    gunicorn silently fell back to INFO and kept logging every INFO line.  Each documented level must
    reach gunicorn's logger as that level."""
    code = (
        "import logging, registry_app.gunicorn_settings as s\n"
        "from gunicorn.glogging import Logger\n"
        "print(logging.getLevelName(Logger.LOG_LEVELS.get(s.loglevel.lower(), logging.INFO)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "GUNICORN_", "_REGISTRY"))}
    env["REGISTRY_LOG_LEVEL"] = level
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected

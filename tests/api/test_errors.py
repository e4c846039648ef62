"""Errors: every failure is the spec's JSON body with the right status, and hostile input never
produces a 500 or a non-JSON answer.

Rules: OCI distribution-spec "Error Codes" (``{"errors": [{code, message, detail}]}``, codes from
its table), "Pulling manifests" (name and tag grammar), RFC 9110 §15.5.6 (405 with ``Allow``) and the
issue's requirement that unknown paths, wrong methods and hostile inputs answer JSON errors.

Requests go out through ``raw_request`` (http.client) so that paths reach the server exactly as
written: ``requests`` would resolve ``..`` and decode ``%2e`` first.
"""

from __future__ import annotations

import pytest

from api.helpers import (
    API_VERSION, OCI_MANIFEST, assert_error, error_body, push_blob, push_image, raw_request, sha256,
)

DIGEST = sha256(b"some blob")


def check_not_broken(resp, method: str = "GET") -> None:
    """Below 500; a 4xx carries the spec's JSON error body (HEAD: no body at all); a redirect has a
    Location and no body other than JSON (this API never answers HTML)."""
    assert resp.status_code < 500, (resp.status_code, resp.content[:300])
    assert resp.headers.get(API_VERSION[0]) == API_VERSION[1]
    if 300 <= resp.status_code < 400:
        assert resp.headers.get("Location")
        if resp.content:
            error_body(resp)
    if resp.status_code >= 400:
        if method == "HEAD":
            assert resp.content == b""
        else:
            errors = error_body(resp)
            assert errors[0]["code"]


# -- unknown paths and methods ------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [
    ("GET", "/v2/foo/bar/baz"),
    ("GET", "/v3/"),
    ("GET", "/"),
    ("GET", "/favicon.ico"),
    ("GET", "/v2/foo/blobs/"),
    ("GET", "/v2/foo/manifests/"),
    ("GET", "/v2/_catalog/more"),
    ("GET", "/v2/foo/tags"),
    ("GET", "/v2/foo/referrers/"),
    ("DELETE", "/v2/foo/bar"),
    ("POST", "/v1/_ping"),
])
def test_unknown_path_is_json_404(api, method, path):
    """Issue / spec "Error Codes": an unknown path is 404 with the spec's JSON error body."""
    assert_error(raw_request(api, method, path), 404)


def test_unknown_path_head_is_404_without_body(api):
    """RFC 9110 §9.3.2: HEAD on an unknown path is 404 with no body."""
    resp = raw_request(api, "HEAD", "/v2/foo/bar/baz")
    assert resp.status_code == 404 and resp.content == b""
    assert resp.headers.get(API_VERSION[0]) == API_VERSION[1]


@pytest.mark.parametrize("method,path", [
    ("POST", "/v2/{repo}/manifests/x"),
    ("PATCH", "/v2/{repo}/manifests/latest"),
    ("PUT", "/v2/"),
    ("DELETE", "/v2/"),
    ("POST", "/v2/"),
    ("POST", "/v2/_catalog"),
    ("DELETE", "/v2/_catalog"),
    ("PUT", "/v2/{repo}/tags/list"),
    ("DELETE", "/v2/{repo}/tags/list"),
    ("PUT", "/v2/{repo}/referrers/" + DIGEST),
    ("DELETE", "/v2/{repo}/referrers/" + DIGEST),
    ("PUT", "/v2/{repo}/blobs/" + DIGEST),
    ("PATCH", "/v2/{repo}/blobs/" + DIGEST),
    ("GET", "/v2/{repo}/blobs/uploads/"),
    ("POST", "/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000"),
])
def test_method_not_allowed(api, repo, method, path):
    """Issue / RFC 9110 §15.5.6: a method a path does not support is 405 with the JSON error code
    UNSUPPORTED and an Allow header listing the methods it does support."""
    resp = raw_request(api, method, path.format(repo=repo), body=b"" if method in ("PUT", "POST", "PATCH") else None)
    assert_error(resp, 405, "UNSUPPORTED")
    allow = {m.strip() for m in resp.headers["Allow"].split(",")}
    assert method not in allow and allow


# -- invalid names ---------------------------------------------------------------------------------


INVALID_NAMES = [
    "Upper", "UPPER/case", "-lead", "trail-", "a__", "_a", "a___b", "a..b", "a/", "a/-b", ".a", "a.",
    "caf%C3%A9", "a%20b", "a:b", "a@b", "a%2Fb/..", "x" * 256, "a/" * 127 + "ab",
]
NAME_ENDPOINTS = [
    ("GET", "/v2/{name}/manifests/latest"),
    ("HEAD", "/v2/{name}/manifests/latest"),
    ("PUT", "/v2/{name}/manifests/latest"),
    ("DELETE", "/v2/{name}/manifests/" + DIGEST),
    ("GET", "/v2/{name}/tags/list"),
    ("GET", "/v2/{name}/blobs/" + DIGEST),
    ("DELETE", "/v2/{name}/blobs/" + DIGEST),
    ("POST", "/v2/{name}/blobs/uploads/"),
    ("GET", "/v2/{name}/referrers/" + DIGEST),
]


@pytest.mark.parametrize("method,path", NAME_ENDPOINTS)
def test_invalid_name(api, method, path):
    """Spec "Pulling manifests": <name> matches [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/...)*; anything else
    (and names over 255 characters) is 400 NAME_INVALID on every endpoint."""
    for name in INVALID_NAMES:
        body = b"{}" if method in ("PUT", "POST") else None
        headers = {"Content-Type": OCI_MANIFEST} if method == "PUT" else {}
        resp = raw_request(api, method, path.format(name=name), headers=headers, body=body)
        if method == "HEAD":
            assert resp.status_code == 400 and resp.content == b"", name
        else:
            assert_error(resp, 400, "NAME_INVALID")


def test_valid_unusual_names(api):
    """Spec "Pulling manifests": names with ".", "_", "__", runs of "-" and several components are valid."""
    for name in ("a.b", "a_b", "a__b", "a---b", "0/1/2", "a-b.c_d/e__f"):
        resp = api("GET", f"/v2/errtest-{name}/tags/list")
        assert_error(resp, 404, "NAME_UNKNOWN")


# -- hostile input ------------------------------------------------------------------------------------------


LONG = "a" * 4000
HOSTILE = [
    # path traversal
    ("GET", "/v2/../../etc/blobs/" + DIGEST, {}),
    ("GET", "/v2/../../etc/passwd", {}),
    ("GET", "/v2/%2e%2e/%2e%2e/etc/blobs/" + DIGEST, {}),
    ("GET", "/v2/%2e%2e%2f%2e%2e%2fetc/tags/list", {}),
    ("GET", "/v2/a/%2e%2e/%2e%2e/b/manifests/latest", {}),
    ("GET", "/v2/a/../../../b/manifests/latest", {}),
    ("GET", "/v2/a/..%2f..%2fb/tags/list", {}),
    ("GET", "/v2/..%5c..%5cwindows/tags/list", {}),
    ("GET", "/v2/{repo}/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd", {}),
    ("GET", "/v2/{repo}/blobs/sha256:../../../etc/passwd", {}),
    ("GET", "/v2/{repo}/manifests/..%2f..%2f..%2fetc%2fpasswd", {}),
    ("GET", "/v2/{repo}/manifests/..", {}),
    ("GET", "/v2/{repo}/manifests/.", {}),
    ("GET", "/v2/{repo}/blobs/uploads/..%2f..%2f_layers", {}),
    ("PATCH", "/v2/{repo}/blobs/uploads/../../../etc", {}),
    ("POST", "/v2/../x/blobs/uploads/", {}),
    ("POST", "/v2/{repo}/blobs/uploads/?mount=" + DIGEST + "&from=../../etc", {}),
    ("POST", "/v2/{repo}/blobs/uploads/?mount=sha256:..%2f..&from={repo}", {}),
    ("GET", "/v2/{repo}/tags/list?last=../../../etc", {}),
    ("GET", "/v2/_catalog?last=../../..", {}),
    ("GET", "/v2/{repo}/referrers/sha256:..%2f..%2f..", {}),
    ("GET", "//v2//{repo}//tags//list", {}),
    # very long names, tags, digests, parameters
    ("GET", "/v2/" + LONG + "/tags/list", {}),
    ("GET", "/v2/" + "a/" * 1500 + "a/tags/list", {}),
    ("GET", "/v2/{repo}/manifests/" + LONG, {}),
    ("GET", "/v2/{repo}/manifests/sha256:" + "a" * 4000, {}),
    ("GET", "/v2/{repo}/blobs/sha256:" + "a" * 4000, {}),
    ("GET", "/v2/{repo}/referrers/sha256:" + "a" * 4000, {}),
    ("GET", "/v2/{repo}/tags/list?n=" + "9" * 1000, {}),
    ("GET", "/v2/{repo}/tags/list?last=" + LONG, {}),
    ("GET", "/v2/_catalog?n=" + "9" * 1000 + "&last=" + LONG, {}),
    ("GET", "/v2/{repo}/referrers/" + DIGEST + "?artifactType=" + LONG, {}),
    ("POST", "/v2/{repo}/blobs/uploads/?digest=sha256:" + "a" * 4000, {}),
    ("POST", "/v2/{repo}/blobs/uploads/?digest-algorithm=" + LONG, {}),
    # NUL bytes
    ("GET", "/v2/%00/tags/list", {}),
    ("GET", "/v2/a%00b/manifests/latest", {}),
    ("GET", "/v2/{repo}/manifests/a%00b", {}),
    ("PUT", "/v2/{repo}/manifests/a%00", {"Content-Type": OCI_MANIFEST}),
    ("GET", "/v2/{repo}/manifests/sha256:%00" + "a" * 63, {}),
    ("GET", "/v2/{repo}/blobs/sha256%00:" + "a" * 64, {}),
    ("GET", "/v2/{repo}/referrers/sha256:" + "a" * 63 + "%00", {}),
    ("GET", "/v2/{repo}/tags/list?n=1%00&last=%00", {}),
    ("GET", "/v2/_catalog?last=%00", {}),
    ("GET", "/v2/{repo}/referrers/" + DIGEST + "?artifactType=%00", {}),
    ("POST", "/v2/{repo}/blobs/uploads/?digest=sha256:%00", {}),
    ("POST", "/v2/{repo}/blobs/uploads/?mount=%00&from=%00", {}),
    ("PUT", "/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000?digest=%00&_state=%00", {}),
    # unicode and invalid UTF-8
    ("GET", "/v2/caf%C3%A9/tags/list", {}),
    ("GET", "/v2/%F0%9F%90%B3/manifests/latest", {}),
    ("GET", "/v2/{repo}/manifests/t%C3%A1g", {}),
    ("PUT", "/v2/{repo}/manifests/%F0%9F%90%B3", {"Content-Type": OCI_MANIFEST}),
    ("GET", "/v2/{repo}/manifests/sha256:%C3%B1" + "a" * 62, {}),
    ("GET", "/v2/{repo}/blobs/sha256:%D9%A3" + "a" * 63, {}),
    ("GET", "/v2/{repo}/referrers/sha256:%EF%BC%A1" + "a" * 63, {}),
    ("GET", "/v2/%FF%FE/tags/list", {}),
    ("GET", "/v2/{repo}/manifests/%FF", {}),
    ("GET", "/v2/{repo}/tags/list?last=%FF%FE&n=%FF", {}),
    ("GET", "/v2/{repo}/tags/list?n=%D9%A3", {}),
    ("GET", "/v2/_catalog?last=%C3%A9", {}),
    ("GET", "/v2/{repo}/referrers/" + DIGEST + "?artifactType=%FF", {}),
    ("GET", "/v2/{repo}/blobs/uploads/%C3%A9", {}),
    # garbage Range headers, on blobs and manifests
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=abc"}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=5-1"}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=-"}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=" + "9" * 100 + "-"}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=-" + "9" * 100}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=1000-2000"}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=0-0,2-3,-1"}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "pages=1-2"}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=\u00e9-".encode("latin-1")}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": ";;;,,,==="}),
    ("GET", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=0-1", "If-Range": "garbage\""}),
    ("HEAD", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=abc"}),
    ("HEAD", "/v2/{repo}/blobs/{blob}", {"Range": "bytes=1000-"}),
    ("GET", "/v2/{repo}/manifests/latest", {"Range": "bytes=abc"}),
    ("GET", "/v2/{repo}/manifests/latest", {"Range": "bytes=5-1"}),
    ("PATCH", "/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000", {"Content-Range": "garbage"}),
    # garbage Accept / Content-Type
    ("GET", "/v2/{repo}/manifests/latest", {"Accept": ";;;,,,=, */*;q=abc"}),
    ("GET", "/v2/{repo}/manifests/latest", {"Accept": "\u00e9".encode("latin-1")}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "garbage"}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": ";"}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "/"}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": OCI_MANIFEST + "; =;;=\""}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "application/json; charset=\""}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "text/html"}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "multipart/form-data; boundary=x"}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "a" * 4000}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "\u00e9\u00e8".encode("latin-1")}),
    ("PUT", "/v2/{repo}/manifests/ct", {"Content-Type": "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON"}),
]


@pytest.fixture
def hostile_repo(api, repo):
    """A repository with a tag "latest" and a blob to aim the hostile requests at."""
    image = push_image(api, repo, tag="latest")
    blob = push_blob(api, repo, b"0123456789")
    return repo, image, blob


def test_hostile_input_never_breaks(api, hostile_repo):
    """Issue: hostile inputs (path traversal, very long or NUL/unicode names, tags and digests, garbage
    Range and Content-Type headers) never give a 500 or a non-JSON error body; every row of the table
    is checked and the failing rows are reported together."""
    repo, image, blob = hostile_repo
    failures = []
    for row, (method, path, headers) in enumerate(HOSTILE):
        target = path.replace("{repo}", repo).replace("{blob}", blob)
        body = image.data if method in ("PUT", "POST", "PATCH") else None
        resp = raw_request(api, method, target, headers=headers, body=body)
        try:
            check_not_broken(resp, method)
        except AssertionError as e:
            failures.append(f"row {row}: {method} {target[:120]} {headers} -> {resp.status_code} "
                            f"{resp.headers.get('Content-Type')} {resp.content[:120]!r} ({e})")
    assert not failures, "\n".join(failures)


def test_hostile_input_leaves_content_alone(api, hostile_repo):
    """Issue: after the hostile table, the repository still serves its manifest and blob intact."""
    repo, image, blob = hostile_repo
    for method, path, headers in HOSTILE:
        target = path.replace("{repo}", repo).replace("{blob}", blob)
        raw_request(api, method, target, headers=headers,
                    body=image.data if method in ("PUT", "POST", "PATCH") else None)
    resp = api("GET", f"/v2/{repo}/manifests/latest")
    assert resp.status_code == 200 and resp.content == image.data
    resp = api("GET", f"/v2/{repo}/blobs/{blob}", allow_redirects=True)
    assert resp.status_code == 200 and resp.content == b"0123456789"


def test_garbage_range_on_blob_is_ignored_or_416(api, hostile_repo):
    """RFC 9110 §14.2: an unparsable Range header is ignored (200, whole blob); an unsatisfiable one is
    416 with `Content-Range: bytes */<size>`."""
    repo, _, blob = hostile_repo
    for value in ("bytes=abc", "pages=1-2", "bytes=5-1", ";;;"):
        resp = api("GET", f"/v2/{repo}/blobs/{blob}", headers={"Range": value}, allow_redirects=True)
        assert resp.status_code == 200 and resp.content == b"0123456789", value
    resp = api("GET", f"/v2/{repo}/blobs/{blob}", headers={"Range": "bytes=1000-2000"}, allow_redirects=True)
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == "bytes */10"
    error_body(resp)


@pytest.mark.parametrize("content_type", ["garbage", "text/html", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_garbage_content_type_on_manifest_put(api, repo, content_type):
    """Spec "Pushing Manifests": a Content-Type that contradicts the manifest's mediaType is 400
    MANIFEST_INVALID, never a 500 (and form types are not parsed as forms)."""
    image = push_image(api, repo)
    resp = api("PUT", f"/v2/{repo}/manifests/ct", data=image.data, headers={"Content-Type": content_type})
    assert_error(resp, 400, "MANIFEST_INVALID")


def test_errors_have_spec_shape(api, repo):
    """Spec "Error Codes": errors is a non-empty list of {code, message, detail} with code from the
    spec's table; message a string."""
    for method, path, status, code in [
        ("GET", f"/v2/{repo}/manifests/latest", 404, None),
        ("GET", f"/v2/{repo}/blobs/{DIGEST}", 404, None),
        ("GET", f"/v2/{repo}/tags/list", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/BAD/tags/list", 400, "NAME_INVALID"),
        ("GET", f"/v2/{repo}/blobs/sha256:zz", 400, "DIGEST_INVALID"),
    ]:
        resp = api(method, path)
        error = assert_error(resp, status, code)
        assert set(error) <= {"code", "message", "detail"} and "message" in error

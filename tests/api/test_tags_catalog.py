"""``GET /v2/<name>/tags/list`` and ``GET /v2/_catalog``: order and pagination.

Rules from the OCI distribution-spec "Listing Tags" (end-8a/8b) and the issue's
requirements (byte order, ``n``/``last``, ``Link`` only when more follow, the
1000 page limit, ``[]`` rather than null, NAME_UNKNOWN) and Distribution's
catalog API, which pages the same way.

The servers are shared by every test, so catalog checks only look at this test's
own (uniquely prefixed) names and at the order of the whole list.
"""

from __future__ import annotations

import math
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from api.helpers import (
    OCI_MANIFEST, assert_error, byte_sorted, follow_links, next_link, push_blob, push_image,
)

ODD_TAGS = ["B", "a", "_x", "a-b", "a.b", "A", "latest", "1.0", "Z9", "a_b", "_", "0", "a-", "aa", "a0"]


def push_tags(api, repo: str, tags: list[str], per_request: int = 50):
    """One manifest, tagged with every tag in ``tags`` by ``?tag=`` on PUT by digest (end-7b),
    50 per request (each answers one OCI-Tag header per tag; http.client allows at most 100 headers)."""
    image = push_image(api, repo, seed="tags")
    for start in range(0, len(tags), per_request):
        batch = tags[start:start + per_request]
        query = "&".join(f"tag={t}" for t in batch)
        resp = api("PUT", f"/v2/{repo}/manifests/{image.digest}?{query}",
                   data=image.data, headers={"Content-Type": OCI_MANIFEST})
        assert resp.status_code == 201, resp.content[:300]
    return image


def tag_list(api, repo: str, query: str = ""):
    resp = api("GET", f"/v2/{repo}/tags/list{query}")
    assert resp.status_code == 200, (resp.status_code, resp.content[:300])
    assert resp.headers["Content-Type"].split(";")[0] == "application/json"
    body = resp.json()
    assert body["name"] == repo
    assert isinstance(body["tags"], list)
    return body["tags"], resp


# -- tags --------------------------------------------------------------------------------------------------


def test_tags_in_byte_order(api, repo):
    """Spec "Listing Tags": tags in "ASCIIbetical" order (Go's sort.Strings, i.e. byte order):
    upper case before "_" before lower case, "-" < "." < digits."""
    push_tags(api, repo, ODD_TAGS)
    tags, resp = tag_list(api, repo)
    assert tags == byte_sorted(ODD_TAGS)
    assert tags[:9] == ["0", "1.0", "A", "B", "Z9", "_", "_x", "a", "a-"]
    assert "Link" not in resp.headers


def test_tags_n_and_last(api, repo):
    """Spec "Listing Tags" (end-8b): `n` gives the first n tags, `last` starts after that tag
    (non-inclusively), also when `last` is not itself a tag; `n` is optional with `last`."""
    push_tags(api, repo, ODD_TAGS)
    ordered = byte_sorted(ODD_TAGS)
    tags, _ = tag_list(api, repo, "?n=3")
    assert tags == ordered[:3]
    tags, _ = tag_list(api, repo, f"?n=4&last={ordered[2]}")
    assert tags == ordered[3:7]
    tags, resp = tag_list(api, repo, "?last=a.b")
    assert tags == ordered[ordered.index("a.b") + 1:]
    assert "Link" not in resp.headers
    tags, _ = tag_list(api, repo, "?n=2&last=a1")  # "a1" is no tag: the tags after it in byte order
    assert tags == [t for t in ordered if t.encode() > b"a1"][:2]
    tags, resp = tag_list(api, repo, f"?n=5&last={ordered[-1]}")
    assert tags == [] and "Link" not in resp.headers
    tags, resp = tag_list(api, repo, f"?n={len(ordered)}")
    assert tags == ordered and "Link" not in resp.headers
    tags, resp = tag_list(api, repo, f"?n={len(ordered) + 1}")
    assert tags == ordered and "Link" not in resp.headers


def test_tags_link_header(api, repo):
    """Spec "Listing Tags": when more tags follow, `Link: </v2/<name>/tags/list?n=<n>&last=<tag>>;
    rel="next"` (RFC 5988); when none follow, no Link."""
    push_tags(api, repo, ODD_TAGS)
    ordered = byte_sorted(ODD_TAGS)
    _, resp = tag_list(api, repo, "?n=4")
    link = resp.headers["Link"]
    assert link.endswith('>; rel="next"') and link.startswith("<")
    url = next_link(resp)
    parts = urlsplit(url)
    assert parts.path == f"/v2/{repo}/tags/list"
    assert parse_qs(parts.query) == {"n": ["4"], "last": [ordered[3]]}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 14, 15])
def test_tags_follow_links_visits_every_tag_once(api, repo, n):
    """Spec "Listing Tags": following the Link headers from `?n=<n>` visits every tag exactly once, in
    order; every page but the last has exactly n tags, and only pages with more to come have a Link."""
    push_tags(api, repo, ODD_TAGS)
    tags, responses = follow_links(api, f"/v2/{repo}/tags/list?n={n}", "tags")
    assert tags == byte_sorted(ODD_TAGS)
    assert len(responses) == math.ceil(len(ODD_TAGS) / n)
    for resp in responses[:-1]:
        assert len(resp.json()["tags"]) == n
    assert "Link" not in responses[-1].headers


def test_tags_n_zero(api, repo):
    """Spec "Listing Tags": when `n` is zero the list is empty and there is no Link header."""
    push_tags(api, repo, ["a", "b"])
    for query in ("?n=0", "?n=0&last=a"):
        tags, resp = tag_list(api, repo, query)
        assert tags == [] and "Link" not in resp.headers


@pytest.mark.parametrize("n", ["abc", "-1", "1.5", "1e3", "0x10", "%20", "-0", "+5", pytest.param("٣", id="arabic-indic-digit-3")])
def test_tags_invalid_n(api, repo, n):
    """Issue: a non-integer or negative `n` is 400 with a JSON error body."""
    push_tags(api, repo, ["a"])
    resp = api("GET", f"/v2/{repo}/tags/list?n={n}")
    assert_error(resp, 400, "UNSUPPORTED")  # a code from the spec's table, unlike Distribution's


def test_tags_n_clamped_to_1000(api, repo):
    """Issue: `n` above 1000 is clamped to 1000, with a Link when more tags follow; following it
    reaches the rest."""
    tags = [f"t{i:04d}" for i in range(1003)]
    push_tags(api, repo, tags)
    page, resp = tag_list(api, repo, "?n=5000")
    assert page == tags[:1000]
    url = next_link(resp)
    assert url is not None
    assert parse_qs(urlsplit(url).query)["last"] == ["t0999"]
    rest, _ = follow_links(api, url, "tags")
    assert rest == tags[1000:]
    everything, responses = follow_links(api, f"/v2/{repo}/tags/list?n=1001", "tags")
    assert everything == tags and len(responses) == 2


def test_tags_after_all_deleted(api, repo):
    """Issue: a repository whose tags were all deleted answers {"name": <name>, "tags": []}, never null."""
    push_tags(api, repo, ["a", "b"])
    for tag in ("a", "b"):
        assert api("DELETE", f"/v2/{repo}/manifests/{tag}").status_code == 202
    resp = api("GET", f"/v2/{repo}/tags/list")
    assert resp.status_code == 200
    assert resp.json() == {"name": repo, "tags": []}


def test_tags_after_manifest_deleted(api, repo):
    """Spec "Deleting Manifests": tags of a deleted manifest leave the list; the repository answers []."""
    image = push_tags(api, repo, ["a", "b"])
    assert api("DELETE", f"/v2/{repo}/manifests/{image.digest}").status_code == 202
    assert api("GET", f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": []}


def test_tags_untagged_repository(api, repo):
    """Spec "Listing Tags": the list MAY be empty; a repository with only a manifest pushed by digest
    (or only blobs) exists and answers [] rather than 404."""
    push_image(api, repo)
    assert api("GET", f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": []}


def test_tags_unknown_repository(api, repo):
    """Spec "Listing Tags" (end-8a failure 404): an unknown repository is 404 NAME_UNKNOWN."""
    assert_error(api("GET", f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")
    assert_error(api("GET", f"/v2/{repo}/tags/list?n=10&last=a"), 404, "NAME_UNKNOWN")


def test_tags_invalid_name(api):
    """Spec "Pulling manifests" name grammar: an invalid name is 400 NAME_INVALID."""
    assert_error(api("GET", "/v2/Upper/tags/list"), 400, "NAME_INVALID")


def test_tags_of_nested_repository(api, repo):
    """Spec "Listing Tags": a repository nested under another lists only its own tags."""
    push_tags(api, repo, ["parent"])
    push_tags(api, repo + "/child", ["child"])
    assert tag_list(api, repo)[0] == ["parent"]
    assert tag_list(api, repo + "/child")[0] == ["child"]


# -- catalog ---------------------------------------------------------------------------------------------


CATALOG_SUFFIXES = ["a", "b", "a-b", "a.b", "a_b", "a/c", "a0", "a__b", "z/y/x"]


def _make_repos(api, suffixes):
    prefix = f"cat{uuid.uuid4().hex[:10]}"
    names = [f"{prefix}/{s}" for s in suffixes]
    for name in names:
        push_blob(api, name, b"catalog")
    push_image(api, names[0], tag="t")
    return prefix, names


@pytest.fixture
def catalog_repos(api):
    """Repositories under a unique prefix, including nested ones ("a" and "a/c")."""
    return _make_repos(api, CATALOG_SUFFIXES)


@pytest.fixture
def flat_repos(api):
    """Repositories under a unique prefix, none nested in another (pagination only)."""
    return _make_repos(api, [s for s in CATALOG_SUFFIXES if "/" not in s])


def full_catalog(api, n: int = 1000):
    repositories, responses = follow_links(api, f"/v2/_catalog?n={n}", "repositories")
    return repositories, responses


def test_catalog_lists_pushed_repositories_in_byte_order(api, catalog_repos):
    """Distribution catalog API / issue: the catalog contains every repository pushed, nested ones
    ("<p>/a" and "<p>/a/c") included, and the whole list is in byte order with no duplicates."""
    _, names = catalog_repos
    repositories, _ = full_catalog(api)
    assert repositories == byte_sorted(set(repositories))
    ours = [r for r in repositories if r in names]
    assert ours == byte_sorted(names), (ours, byte_sorted(names))


def test_catalog_pagination(api, flat_repos):
    """Issue: catalog `n` and `last` page like tags: following the Links from `?n=2` visits every
    repository exactly once, in byte order, and `last` starts just after the given name."""
    prefix, names = flat_repos
    ordered = byte_sorted(names)
    seen: list[str] = []
    url = f"/v2/_catalog?n=2&last={prefix}"  # just before our names; other tests' names follow
    while url is not None:
        resp = api("GET", url)
        assert resp.status_code == 200
        page = resp.json()["repositories"]
        assert len(page) == 2 or "Link" not in resp.headers
        seen += page
        if page and not page[-1].startswith(prefix + "/"):
            break
        url = next_link(resp)
        assert url is None or urlsplit(url).path == "/v2/_catalog"
    assert [r for r in seen if r.startswith(prefix + "/")] == ordered
    assert seen == byte_sorted(seen)
    everything, responses = full_catalog(api, n=1000)
    assert [r for r in everything if r.startswith(prefix + "/")] == ordered
    assert all(next_link(r) for r in responses[:-1]) and next_link(responses[-1]) is None
    resp = api("GET", f"/v2/_catalog?n=3&last={ordered[2]}")
    assert resp.status_code == 200
    assert resp.json()["repositories"] == ordered[3:6]
    assert parse_qs(urlsplit(next_link(resp)).query) == {"n": ["3"], "last": [ordered[5]]}
    resp = api("GET", f"/v2/_catalog?n=1&last={prefix}/")  # not a repository: the first after it
    assert resp.json()["repositories"] == [ordered[0]]


def test_catalog_n_zero_and_invalid(api, flat_repos):
    """Spec "Listing Tags" rules applied to the catalog: n=0 gives [] and no Link; a non-integer or
    negative n is 400 with a JSON error."""
    resp = api("GET", "/v2/_catalog?n=0")
    assert resp.status_code == 200
    assert resp.json() == {"repositories": []} and "Link" not in resp.headers
    for n in ("x", "-1", "2.5"):
        assert_error(api("GET", f"/v2/_catalog?n={n}"), 400, "UNSUPPORTED")


def test_catalog_n_clamped(api, flat_repos):
    """Issue: n above 1000 is clamped to 1000 (only checkable here as "at most 1000")."""
    resp = api("GET", "/v2/_catalog?n=100000")
    assert resp.status_code == 200
    repositories = resp.json()["repositories"]
    assert len(repositories) <= 1000
    assert ("Link" in resp.headers) == (len(full_catalog(api)[0]) > 1000)

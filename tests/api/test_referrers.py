"""``GET /v2/<name>/referrers/<digest>`` (OCI distribution-spec 1.1 "Listing Referrers").

Also "Pushing Manifests with Subject", "Referrers Tag Schema" and "Enabling the
Referrers API" (manifests listed in a tag-schema index are merged in).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from api.helpers import (
    OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Pushed, assert_error, canonical, push_artifact, push_image,
    push_index, push_manifest, referrers_tag, sha256,
)

SBOM = "application/vnd.example.sbom.v1"
SIG = "application/vnd.example.signature.v1"


def referrers(api, repo: str, digest: str, query: str = ""):
    """The referrers index; checks status, Content-Type and the index's own fields."""
    resp = api("GET", f"/v2/{repo}/referrers/{digest}{query}")
    assert resp.status_code == 200, (resp.status_code, resp.content[:300])
    assert resp.headers["Content-Type"] == OCI_INDEX
    body = resp.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    assert isinstance(body["manifests"], list)
    return body["manifests"], resp


def by_digest(descriptors: list[dict]) -> dict[str, dict]:
    result = {d["digest"]: d for d in descriptors}
    assert len(result) == len(descriptors), f"duplicate descriptors: {descriptors}"
    return result


def expected(pushed: Pushed, artifact_type: str | None, annotations: dict | None) -> dict:
    """The descriptor the spec requires for one referrer."""
    descriptor = pushed.descriptor()
    if artifact_type is not None:
        descriptor["artifactType"] = artifact_type
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


def test_referrers_list(api, repo):
    """Spec "Listing Referrers": 200, Content-Type application/vnd.oci.image.index.v1+json, an image
    index of every manifest whose subject is the digest, each with mediaType, digest, size,
    artifactType (the manifest's artifactType, else its config mediaType; omitted for an index without
    one) and the manifest's annotations."""
    subject = push_image(api, repo, tag="app", seed="subject")
    sbom_notes = {"org.opencontainers.image.created": "2022-01-01T14:42:55Z", "org.example.sbom.format": "json"}
    sbom = push_artifact(api, repo, SBOM, subject=subject, annotations=sbom_notes)
    sig = push_artifact(api, repo, SIG, subject=subject)
    image = push_image(api, repo, seed="image-referrer", subject=subject.descriptor(),
                       annotations={"k": "v"})
    index_notes = {"org.opencontainers.image.created": "2023-01-01T07:21:33Z"}
    index = push_index(api, repo, [push_image(api, repo, seed="child")], subject=subject.descriptor(),
                       annotations=index_notes)
    typed_index = push_index(api, repo, [push_image(api, repo, seed="child2")], subject=subject.descriptor(),
                             artifact_type="application/vnd.example.bundle")
    push_artifact(api, repo, SBOM)  # no subject: not a referrer
    push_artifact(api, repo, SBOM, subject=sbom)  # a referrer of the sbom, not of the subject

    for pushed in (sbom, sig, image, index, typed_index):
        assert pushed.response.headers["OCI-Subject"] == subject.digest

    manifests, resp = referrers(api, repo, subject.digest)
    assert "OCI-Filters-Applied" not in resp.headers
    assert by_digest(manifests) == by_digest([
        expected(sbom, SBOM, sbom_notes),
        expected(sig, SIG, None),
        expected(image, OCI_CONFIG, {"k": "v"}),
        expected(index, None, index_notes),
        expected(typed_index, "application/vnd.example.bundle", None),
    ])


def test_referrers_filter_by_artifact_type(api, repo):
    """Spec "Listing Referrers": `?artifactType=` keeps only that type and the answer carries
    `OCI-Filters-Applied: artifactType`; a filter matching nothing is an empty index."""
    subject = push_image(api, repo, seed="subject")
    sbom1 = push_artifact(api, repo, SBOM, subject=subject, annotations={"n": "1"})
    sbom2 = push_artifact(api, repo, SBOM, subject=subject, annotations={"n": "2"})
    push_artifact(api, repo, SIG, subject=subject)
    manifests, resp = referrers(api, repo, subject.digest, f"?artifactType={SBOM}")
    assert resp.headers["OCI-Filters-Applied"] == "artifactType"
    assert by_digest(manifests) == by_digest([expected(sbom1, SBOM, {"n": "1"}), expected(sbom2, SBOM, {"n": "2"})])
    manifests, resp = referrers(api, repo, subject.digest, "?artifactType=application/vnd.none")
    assert manifests == [] and resp.headers["OCI-Filters-Applied"] == "artifactType"
    manifests, _ = referrers(api, repo, subject.digest, f"?artifactType={OCI_CONFIG}")
    assert manifests == []


def test_referrers_empty(api, repo):
    """Spec "Listing Referrers": never 404; an unknown repository, an unknown subject and a subject
    without referrers all answer 200 with an empty index."""
    unknown = sha256(b"no such manifest")
    assert referrers(api, repo, unknown)[0] == []
    subject = push_image(api, repo)
    assert referrers(api, repo, subject.digest)[0] == []
    assert referrers(api, repo, unknown)[0] == []
    assert referrers(api, repo, "sha512:" + "a" * 128)[0] == []
    manifests, resp = referrers(api, repo, subject.digest, f"?artifactType={SBOM}")
    assert manifests == [] and resp.headers["OCI-Filters-Applied"] == "artifactType"


@pytest.mark.parametrize("digest", [
    "sha256:abc", "sha256:" + "g" * 64, "sha256:" + "A" * 64, "notadigest", "sha256", "sha256:",
    "md5:" + "0" * 32, "sha256:" + "0" * 63,
])
def test_referrers_invalid_digest(api, repo, digest):
    """Spec "Listing Referrers": a digest with an invalid syntax is 400 Bad Request (JSON error)."""
    push_image(api, repo)
    assert_error(api("GET", f"/v2/{repo}/referrers/{digest}"), 400)


def test_referrers_invalid_name(api):
    """Spec name grammar: an invalid repository name is 400 NAME_INVALID."""
    assert_error(api("GET", f"/v2/Bad_Name/referrers/{sha256(b'x')}"), 400, "NAME_INVALID")


def test_referrer_of_absent_subject(api, repo):
    """Spec "Pushing Manifests with Subject": the subject need not exist; its referrers are listed."""
    absent = {"mediaType": OCI_MANIFEST, "digest": sha256(b"absent subject"), "size": 14}
    art = push_artifact(api, repo, SBOM, subject=absent)
    assert by_digest(referrers(api, repo, absent["digest"])[0]) == by_digest([expected(art, SBOM, None)])


def test_referrers_are_per_repository(api, repo):
    """Spec "Listing Referrers": descriptors are of manifests in the same <name> namespace."""
    absent = {"mediaType": OCI_MANIFEST, "digest": sha256(b"shared subject"), "size": 14}
    mine = push_artifact(api, repo, SBOM, subject=absent)
    push_artifact(api, repo + "-other", SIG, subject=absent)
    assert [d["digest"] for d in referrers(api, repo, absent["digest"])[0]] == [mine.digest]


class _ThreadApi:
    """The ``api`` callable on a session of its own (a requests.Session per thread)."""

    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()

    def __call__(self, method, path, **kwargs):
        url = path if path.startswith("http") else self.url + path
        kwargs.setdefault("allow_redirects", False)
        return self.http.request(method, url, **kwargs)


def test_concurrent_referrer_pushes(api, repo):
    """Spec "Listing Referrers" / "Enabling the Referrers API" (registries MUST include all newly pushed
    manifests with a subject): 10 referrers of one subject pushed at once from threads all appear."""
    subject = push_image(api, repo, seed="subject")
    results: dict[int, Pushed] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(10)

    def push(i: int):
        client = _ThreadApi(api.url)
        try:
            barrier.wait(timeout=30)
            results[i] = push_artifact(client, repo, SBOM, subject=subject, annotations={"i": str(i)})
        except BaseException as e:  # reported below
            failures.append(e)
        finally:
            client.http.close()

    threads = [threading.Thread(target=push, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert len(results) == 10
    manifests, _ = referrers(api, repo, subject.digest)
    assert by_digest(manifests) == by_digest(
        [expected(results[i], SBOM, {"i": str(i)}) for i in range(10)]
    )


def test_deleted_referrer_leaves_the_list(api, repo):
    """Spec "Deleting Manifests" / "Listing Referrers": once a referrer is deleted it is no longer listed."""
    subject = push_image(api, repo, seed="subject")
    gone = push_artifact(api, repo, SBOM, subject=subject, annotations={"x": "gone"})
    kept = push_artifact(api, repo, SIG, subject=subject)
    assert len(referrers(api, repo, subject.digest)[0]) == 2
    assert api("DELETE", f"/v2/{repo}/manifests/{gone.digest}").status_code == 202
    assert by_digest(referrers(api, repo, subject.digest)[0]) == by_digest([expected(kept, SIG, None)])
    assert api("DELETE", f"/v2/{repo}/manifests/{kept.digest}").status_code == 202
    assert referrers(api, repo, subject.digest)[0] == []


def test_deleting_subject_keeps_referrers_listed(api, repo):
    """Spec "Listing Referrers": the list is about the subject digest, which need not exist: deleting
    the subject manifest does not make the endpoint 404."""
    subject = push_image(api, repo, seed="subject")
    art = push_artifact(api, repo, SBOM, subject=subject)
    assert api("DELETE", f"/v2/{repo}/manifests/{subject.digest}").status_code == 202
    assert [d["digest"] for d in referrers(api, repo, subject.digest)[0]] == [art.digest]


def _tag_schema_index(api, repo: str, subject: str, descriptors: list[dict]) -> Pushed:
    data = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
    return push_manifest(api, repo, data, OCI_INDEX, reference=referrers_tag(subject))


def test_referrers_tag_schema_merged(api, repo):
    """Spec "Enabling the Referrers API": manifests listed in an index tagged with the referrers tag
    schema (sha256-<hex of subject>) are included in the answer, each exactly once."""
    subject = push_image(api, repo, seed="subject")
    art = push_artifact(api, repo, SBOM, subject=subject, annotations={"a": "b"})
    listed = expected(art, SBOM, {"a": "b"})
    _tag_schema_index(api, repo, subject.digest, [listed])
    assert referrers(api, repo, subject.digest)[0] == [listed]
    sig = push_artifact(api, repo, SIG, subject=subject)
    assert by_digest(referrers(api, repo, subject.digest)[0]) == by_digest([listed, expected(sig, SIG, None)])


def test_referrers_tag_schema_preexisting_manifest(filesystem_api, repo):
    """Spec "Enabling the Referrers API": a manifest with a subject that was stored before the referrers
    API existed (written straight into Distribution's storage layout, as Distribution 2.8 leaves it) and
    listed in the referrers-tag-schema index is included in the answer."""
    api = filesystem_api  # it writes Distribution's on-disk layout directly
    subject = push_image(api, repo, seed="subject")
    pushed = push_artifact(api, repo, SBOM, tag="tmp")  # blobs in place; the manifest has no subject
    document = pushed.document
    document["subject"] = subject.descriptor()
    document["annotations"] = {"old": "yes"}
    data = canonical(document)
    digest = sha256(data)
    root = Path(api.server.root) / "docker/registry/v2"
    hex_ = digest.split(":")[1]
    blob = root / "blobs/sha256" / hex_[:2] / hex_ / "data"
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = root / "repositories" / repo / "_manifests/revisions/sha256" / hex_ / "link"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.write_text(digest)
    old = Pushed(data, OCI_MANIFEST)
    assert api("GET", f"/v2/{repo}/manifests/{digest}").content == data
    listed = expected(old, SBOM, {"old": "yes"})
    _tag_schema_index(api, repo, subject.digest, [listed])
    assert referrers(api, repo, subject.digest)[0] == [listed]
    manifests, _ = referrers(api, repo, subject.digest, f"?artifactType={SBOM}")
    assert manifests == [listed]
    assert referrers(api, repo, subject.digest, f"?artifactType={SIG}")[0] == []

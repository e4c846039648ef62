"""The upload layer on every driver: the reread fallback when no hash state can be kept
(issue: "Rereading the data is the fallback"), and state shared across driver instances."""

import hashlib

import pytest

from registry_app.digest import Digest
from storage_drivers import PathNotFound
from registry_app.errors import DigestInvalid, RangeInvalid
from registry_app.store import paths
from registry_app.store.hashstate import HashState
from registry_app.store.repository import Store
from registry_app.store.signing import Signer
from registry_app.store.uploads import Uploads

MiB = 1024 * 1024
CHUNKS = [b"a" * (5 * MiB + 7), b"b" * 3, b"c" * (2 * MiB)]
DATA = b"".join(CHUNKS)


def _uploads(driver) -> Uploads:
    return Uploads(driver, Store(driver), Signer("secret"))


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_reread_fallback_verifies_the_digest(new_driver, monkeypatch, algorithm):
    monkeypatch.setattr(HashState, "to_bytes", lambda self: None)
    uploads = _uploads(new_driver())
    upload = uploads.start("fall/back")
    for chunk in CHUNKS[:2]:
        upload = _uploads(new_driver()).append(upload, [chunk])  # each request on another instance
    assert upload.hash_state is None
    digest = Digest(algorithm, hashlib.new(algorithm, DATA).hexdigest())
    info = _uploads(new_driver()).finish(upload, [CHUNKS[2]], digest)
    assert (info.digest, info.size) == (digest, len(DATA))
    driver = new_driver()
    assert driver.read(paths.blob_data(digest)) == DATA
    assert driver.read(paths.layer_link("fall/back", digest)) == str(digest).encode()


def test_reread_fallback_refuses_a_wrong_digest(driver, monkeypatch):
    monkeypatch.setattr(HashState, "to_bytes", lambda self: None)
    uploads = _uploads(driver)
    upload = uploads.append(uploads.start("fall/back"), [DATA])
    wrong = Digest("sha256", "0" * 64)
    with pytest.raises(DigestInvalid):
        uploads.finish(upload, [], wrong)
    assert not Store(driver).blob_exists(wrong)
    with pytest.raises(PathNotFound):
        driver.list(paths.upload("fall/back", upload.id))


def test_stale_state_loses_to_the_newer_one(new_driver):
    """Two requests from one offset: the second to arrive is refused (416) and changes nothing."""
    upload = _uploads(new_driver()).start("race/me")
    first = _uploads(new_driver()).append(upload, [b"x" * 10])
    with pytest.raises(RangeInvalid):
        _uploads(new_driver()).append(upload, [b"y" * 10])
    digest = Digest("sha256", hashlib.sha256(b"x" * 10).hexdigest())
    assert _uploads(new_driver()).finish(first, [], digest).size == 10
    assert new_driver().read(paths.blob_data(digest)) == b"x" * 10

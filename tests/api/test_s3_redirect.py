"""Issue 3, blob GET on S3: by default a 307 to a presigned URL (Distribution's
``redirect``); HEAD is always answered by the registry itself."""

import hashlib

import pytest
import requests

from registry_servers import start_registry


@pytest.fixture(scope="module")
def redirecting(tmp_path_factory, request):
    server = start_registry("s3", tmp_path_factory, request, extra_env={"REGISTRY_STORAGE_REDIRECT_DISABLE": "false"})
    yield server
    server.stop()


def test_get_redirects_to_the_exact_bytes(redirecting):
    data = bytes(range(256)) * 4096 + b"tail"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    pushed = requests.post(f"{redirecting.url}/v2/redirect/me/blobs/uploads/?digest={digest}", data=data)
    assert pushed.status_code == 201

    head = requests.head(f"{redirecting.url}/v2/redirect/me/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest

    url = f"{redirecting.url}/v2/redirect/me/blobs/{digest}"
    redirect = requests.get(url, allow_redirects=False)
    assert redirect.status_code == 307
    location = redirect.headers["Location"]
    assert location.startswith("http://127.0.0.1:") and "X-Amz-Signature=" in location

    assert requests.get(location).content == data
    ranged = requests.get(location, headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206
    assert ranged.content == data[1000:2000]
    followed = requests.get(url, headers={"Range": "bytes=-4"})
    assert followed.status_code == 206 and followed.content == b"tail"


def test_unknown_blob_is_not_redirected(redirecting):
    response = requests.get(f"{redirecting.url}/v2/redirect/me/blobs/sha256:{'0' * 64}", allow_redirects=False)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"

"""What only the S3 driver promises, beyond the shared contract: Distribution's
key layout and config keys, parts of at least 5 MiB built from odd chunks,
bounded read-back, racing writers that cannot corrupt each other, server-side
moves, and listings that stay cheap.
"""

import hashlib
import os
import random

import pytest
import requests
from botocore.exceptions import ClientError

from storage_drivers.base import InvalidResume, PathNotFound
from storage_drivers.s3 import S3Driver

MiB = 1024 * 1024
S3_BUCKET = "registry-test"  # made by conftest's s3_bucket


def data(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture
def make(s3_bucket, s3_params):
    """S3 drivers on the moto bucket, with the suite's params plus overrides."""
    made = []

    def make(**overrides):
        made.append(S3Driver(**{**s3_params, **overrides}))
        return made[-1]

    yield make
    for d in made:
        d.close()


def keys(client, prefix=""):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))


def uploads(client):
    return client.list_multipart_uploads(Bucket=S3_BUCKET).get("Uploads", [])


# -- layout and config -----------------------------------------------------------


def test_keys_are_distributions_layout(make, s3_bucket):
    d = make()
    d.write("docker/registry/v2/blobs/sha256/ab/abcd/data", b"blob")
    assert keys(s3_bucket) == ["registry/docker/registry/v2/blobs/sha256/ab/abcd/data"]
    # Content Distribution wrote is served as is.
    link = "registry/docker/registry/v2/repositories/lib/app/_layers/sha256/abcd/link"
    s3_bucket.put_object(Bucket=S3_BUCKET, Key=link, Body=b"sha256:abcd")
    assert d.read("docker/registry/v2/repositories/lib/app/_layers/sha256/abcd/link") == b"sha256:abcd"
    assert d.find_dirs("docker/registry/v2/repositories", "_") == ["lib/app"]
    assert sorted(i.path for i in d.walk("docker")) == [
        "docker/registry/v2/blobs/sha256/ab/abcd/data",
        "docker/registry/v2/repositories/lib/app/_layers/sha256/abcd/link",
    ]
    make(rootdirectory="").write("top", b"1")
    make(rootdirectory="/a/b/").write("x", b"2")
    assert "top" in keys(s3_bucket) and "a/b/x" in keys(s3_bucket)


def test_config_values_as_strings_or_typed(make):
    with pytest.raises(ValueError):
        make(chunksize="5242879")
    with pytest.raises(ValueError):
        make(chunksize=5 * 1024 * MiB + 1)
    d = make(
        chunksize=6 * MiB,
        regionendpoint="localhost:9000",
        secure="false",
        forcepathstyle=True,
        skipverify="true",
        storageclass="NONE",
        region="eu-west-1",
        v4auth="true",
    )
    assert d.chunksize == 6 * MiB
    assert d.s3.meta.endpoint_url == "http://localhost:9000"
    assert d.s3.meta.config.s3["addressing_style"] == "path"
    assert d.s3.meta.region_name == "eu-west-1"
    assert "StorageClass" not in d.put_args
    assert make().put_args == {"StorageClass": "STANDARD"}
    assert make(regionendpoint="https://s3.example.com").s3.meta.endpoint_url == "https://s3.example.com"
    assert make(encrypt="true").put_args["ServerSideEncryption"] == "AES256"
    assert make(encrypt="false").put_args.get("ServerSideEncryption") is None


def test_encrypt_and_storage_class_apply_to_every_object(make, s3_bucket):
    d = make(encrypt=True, storageclass="REDUCED_REDUNDANCY")
    d.write("e/small", b"x")
    with d.writer("e/big") as w:
        w.write(data(6 * MiB, 1))
        w.commit()
    d.move("e/small", "e/moved")
    for path in ("e/big", "e/moved"):
        head = s3_bucket.head_object(Bucket=S3_BUCKET, Key=f"registry/{path}")
        assert head["ServerSideEncryption"] == "AES256"
        assert head["StorageClass"] == "REDUCED_REDUNDANCY"


def test_moto_enforces_the_5_mib_part_minimum(s3_bucket):
    """The writer tests prove something only if moto is as strict as AWS."""
    assert "S3_UPLOAD_PART_MIN_SIZE" not in os.environ
    upload = s3_bucket.create_multipart_upload(Bucket=S3_BUCKET, Key="k")["UploadId"]
    parts = [
        {"PartNumber": n, "ETag": s3_bucket.upload_part(
            Bucket=S3_BUCKET, Key="k", UploadId=upload, PartNumber=n, Body=body
        )["ETag"]}
        for n, body in ((1, b"a" * (5 * MiB - 1)), (2, b"b"))
    ]
    with pytest.raises(ClientError) as err:
        s3_bucket.complete_multipart_upload(
            Bucket=S3_BUCKET, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
        )
    assert err.value.response["Error"]["Code"] == "EntityTooSmall"


# -- writers ---------------------------------------------------------------------


def test_small_chunks_read_back_only_tails(make, s3_bucket):
    """1 MiB chunks with 5 MiB parts: each resume reads back the tail (< 5 MiB)
    and nothing else; a commit with nothing new copies the tail server-side."""
    chunks = [data(MiB, n) for n in range(7)]
    token, read_back = None, 0
    for chunk in chunks:
        d = make()
        with d.writer("rb/blob", resume=token) as w:
            w.write(chunk)
            token = w.checkpoint()
        read_back += d.stats["bytes_read_back"]
        assert len(keys(s3_bucket, "registry/rb/blob.tail.")) <= 2  # superseded tails are deleted
    assert read_back == (1 + 2 + 3 + 4 + 0 + 1) * MiB
    assert [p[2] for p in token["parts"]] == [5 * MiB]
    assert (token["tail_size"], token["size"]) == (2 * MiB, 7 * MiB)
    last = make()
    with last.writer("rb/blob", resume=token) as w:
        w.commit()
    assert last.stats["bytes_read_back"] == 0
    assert hashlib.sha256(last.read("rb/blob")).digest() == hashlib.sha256(b"".join(chunks)).digest()
    assert keys(s3_bucket, "registry/rb/") == ["registry/rb/blob"]
    assert uploads(s3_bucket) == []


def test_checkpoint_uploads_a_remainder_of_5_mib_as_a_part(make):
    d = make(chunksize=str(8 * MiB))
    first = data(5 * MiB + 512 * 1024, 3)
    with d.writer("cp/blob") as w:
        w.write(first)
        token = w.checkpoint()
    assert (token["parts"][0][0], token["parts"][0][2], token["tail"]) == (1, len(first), None)
    with make().writer("cp/blob", resume=token) as w:
        w.write(b"end")
        w.commit()
    assert d.read("cp/blob") == first + b"end"
    assert d.stats["bytes_read_back"] == 0


def test_zero_length_commit_uses_no_multipart_upload(make, s3_bucket):
    d = make()
    with d.writer("z/blob") as w:
        w.commit()
    assert d.read("z/blob") == b""
    assert uploads(s3_bucket) == []


def test_cancel_aborts_the_upload_and_deletes_tails(make, s3_bucket):
    d = make()
    with d.writer("c/blob") as w:
        w.write(data(6 * MiB, 4))
        token = w.checkpoint()
    assert len(uploads(s3_bucket)) == 1 and token["tail"]
    with make().writer("c/blob", resume=token) as w:
        w.cancel()
    assert uploads(s3_bucket) == []
    assert keys(s3_bucket) == []


def test_racing_writer_cannot_corrupt_the_winner(make):
    """Two writers resume from one token and both upload part 2; the registry
    lets the first checkpoint win, and committing it must fail, not complete
    with the loser's bytes in the winner's part."""
    start = data(6 * MiB, 5)
    with make().writer("race/blob") as w:
        w.write(start)
        token = w.checkpoint()
    winner, loser = make().writer("race/blob", resume=token), make().writer("race/blob", resume=token)
    winner.write(data(5 * MiB, 6))
    won = winner.checkpoint()
    loser.write(data(5 * MiB, 7))
    loser.checkpoint()
    with make().writer("race/blob", resume=won) as w:
        with pytest.raises(InvalidResume):
            w.commit()
    with pytest.raises(PathNotFound):
        make().stat("race/blob")


def test_racing_writer_beyond_the_winners_parts_is_ignored(make):
    """A loser's parts past the winner's token are not part of the winner's upload."""
    start = data(6 * MiB, 8)
    with make().writer("race2/blob") as w:
        w.write(start)
        token = w.checkpoint()
    with make().writer("race2/blob", resume=token) as w:
        w.write(b"winner")
        won = w.checkpoint()
    with make().writer("race2/blob", resume=token) as w:
        w.write(data(6 * MiB, 9))  # uploads part 2 and more
        w.checkpoint()
    with make().writer("race2/blob", resume=won) as w:
        w.commit()
    assert make().read("race2/blob") == start + b"winner"


# -- moves, listings, maintenance ----------------------------------------------


def test_move_above_threshold_is_a_multipart_server_side_copy(make, s3_bucket):
    d = make(multipartcopythresholdsize=str(5 * MiB), multipartcopychunksize=str(5 * MiB))
    content = data(12 * MiB + 3, 10)
    d.write("mv/src", content)
    d.move("mv/src", "mv/dst")
    assert s3_bucket.head_object(Bucket=S3_BUCKET, Key="registry/mv/dst")["ETag"].endswith('-3"')
    assert d.read("mv/dst") == content
    assert d.stats["bytes_read_back"] == 0
    assert keys(s3_bucket) == ["registry/mv/dst"]


def test_thousands_of_repositories_list_in_few_requests(make):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    names = [f"org{i % 7}/repo{i:04d}" for i in range(1001)]
    for name in names:
        backend.put_object(S3_BUCKET, f"registry/repos/{name}/_layers/sha256/1/link", b"x")
    for child in ("_manifests/revisions/sha256/2/link", "_uploads/u/data", "_layers/sha256/3/link"):
        backend.put_object(S3_BUCKET, f"registry/repos/{names[0]}/{child}", b"x")
    d = make()
    before = d.stats["requests"]
    assert d.find_dirs("repos", "_") == sorted(names)
    assert d.stats["requests"] - before == 2  # 1001 CommonPrefixes: two pages
    before = d.stats["requests"]
    d.delete("repos")
    assert d.stats["requests"] - before == 1 + 2 + 2  # head, two listing pages, two batch deletes
    with pytest.raises(PathNotFound):
        d.stat("repos")


def test_purge_uploads_aborts_old_multipart_uploads(make, s3_bucket):
    d = make()
    with d.writer("p/_uploads/u1/data") as w:
        w.write(data(5 * MiB, 11))  # a part is uploaded, then the worker dies
    # moto reports every upload as initiated on 2010-11-10, so "too new" means 20 years here.
    assert d.purge_uploads("p", older_than_seconds=20 * 365 * 86400) == []
    found = d.purge_uploads("p", older_than_seconds=0, dry_run=True)
    assert [f["path"] for f in found] == ["p/_uploads/u1/data"]
    assert len(uploads(s3_bucket)) == 1
    assert [f["upload_id"] for f in d.purge_uploads("p", older_than_seconds=0)] == [found[0]["upload_id"]]
    assert uploads(s3_bucket) == []


def test_url_for_is_a_presigned_get(make):
    d = make()
    d.write("u/blob", b"redirected")
    url = d.url_for("u/blob", expires_in=60)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    assert requests.get(url).content == b"redirected"


# -- over HTTP -------------------------------------------------------------------


@pytest.fixture
def http_driver(s3_params):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = {"regionendpoint": f"{host}:{port}", "secure": "false", "forcepathstyle": "true"}
    d = S3Driver(**{**s3_params, **endpoint})
    d.s3.create_bucket(Bucket=S3_BUCKET)
    yield d
    d.close()
    server.stop()


def test_over_http(http_driver):
    """The in-process mock skips the wire; check conditional writes, ranges and
    multipart uploads through real HTTP too."""
    from storage_drivers.base import AlreadyExists

    d = http_driver
    d.write("h/link", b"1", exclusive=True)
    with pytest.raises(AlreadyExists):
        d.write("h/link", b"2", exclusive=True)
    first, rest = data(5 * MiB + 10, 12), data(MiB, 13)
    with d.writer("h/blob") as w:
        w.write(first)
        token = w.checkpoint()
    with d.writer("h/blob", resume=token) as w:
        w.write(rest)
        w.commit()
    assert d.read("h/blob") == first + rest
    size = len(first + rest)
    with d.open_reader("h/blob", size - 5) as r:
        assert r.read() == rest[-5:]
    with d.open_reader("h/blob", size) as r:
        assert r.read() == b""
    assert requests.get(d.url_for("h/link")).content == b"1"

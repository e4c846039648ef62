"""Fixtures giving every storage driver to the shared contract suite.

``new_driver()`` makes another instance on the same storage, as a second
worker or host would; ``driver`` is the first one.  Drivers are imported inside
the fixture so that one missing driver does not stop the others.
"""

import uuid

# Imported at collection, before any test makes the S3 driver's shared boto3
# session: moto hooks only sessions created after its import.
import moto  # noqa: F401
import pytest

S3_BUCKET = "registry-test"
# Strings, as they arrive from a YAML config; the 5 MiB minimum chunk size
# makes the part boundaries cheap to reach.
S3_PARAMS = {
    "bucket": S3_BUCKET,
    "region": "us-east-1",
    "rootdirectory": "/registry/",
    "chunksize": "5242880",
    "accesskey": "testing",
    "secretkey": "testing",
    "secure": "true",
}


@pytest.fixture
def s3_params():
    return dict(S3_PARAMS)


@pytest.fixture
def s3_bucket():
    """An in-process moto S3 with an empty bucket; yields a plain boto3 client."""
    from moto import mock_aws

    from storage_drivers import s3

    with mock_aws():
        client = s3._session().client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=S3_BUCKET)
        yield client


@pytest.fixture(params=["filesystem", "inmemory", "s3"])
def new_driver(request, tmp_path):
    made = []

    def remember(factory):
        def make():
            made.append(factory())
            return made[-1]

        return make

    if request.param == "filesystem":
        from storage_drivers.filesystem import FilesystemDriver

        yield remember(lambda: FilesystemDriver(rootdirectory=str(tmp_path / "root")))
    elif request.param == "inmemory":
        from storage_drivers import inmemory

        name = uuid.uuid4().hex
        yield remember(lambda: inmemory.InMemoryDriver(name=name))
        inmemory._STORES.pop(name, None)
    else:
        from storage_drivers.s3 import S3Driver

        request.getfixturevalue("s3_bucket")
        yield remember(lambda: S3Driver(**S3_PARAMS))
    for d in made:
        d.close()


@pytest.fixture
def driver(new_driver):
    return new_driver()

"""Shared fixtures: our registry under gunicorn on free loopback ports.

``api`` is parametrised over every storage driver, so each API test runs
against each of them over real HTTP.  Tests use their own repository names,
so servers are shared per session.
"""

from __future__ import annotations

import uuid

import boto3
import pytest
import requests

from procs import MotoServer, RegistryServer

API_DRIVERS = ["filesystem", "inmemory", "s3"]


class Api:
    """A running registry and a requests session pointed at it."""

    def __init__(self, server, driver: str):
        self.server = server
        self.driver = driver
        self.url = server.url
        self.host = server.host
        self.http = requests.Session()

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else self.url + path
        kwargs.setdefault("allow_redirects", False)
        return self.http.request(method, url, **kwargs)


def s3_env(endpoint: str, bucket: str, **extra: str) -> dict:
    """REGISTRY_* variables for the S3 driver on a moto_server, creating the bucket."""
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=bucket)
    env = {
        "REGISTRY_STORAGE": "s3",
        "REGISTRY_STORAGE_S3_BUCKET": bucket,
        "REGISTRY_STORAGE_S3_REGION": "us-east-1",
        "REGISTRY_STORAGE_S3_REGIONENDPOINT": endpoint,
        "REGISTRY_STORAGE_S3_FORCEPATHSTYLE": "true",
        "REGISTRY_STORAGE_S3_ACCESSKEY": "test",
        "REGISTRY_STORAGE_S3_SECRETKEY": "test",
        "REGISTRY_STORAGE_S3_CHUNKSIZE": str(5 * 1024 * 1024),
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A real HTTP S3 endpoint; its 5 MiB minimum part size is AWS's."""
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


def start_registry(driver: str, tmp_path_factory, request, extra_env=None, workers=2) -> RegistryServer:
    tmp = tmp_path_factory.mktemp(f"registry-{driver}")
    env = {"REGISTRY_LOG_ACCESSLOG_DISABLED": "true"}
    if driver == "inmemory":
        env["REGISTRY_STORAGE"] = "inmemory"
        workers = 1  # its content lives in one process
    elif driver == "s3":
        moto = request.getfixturevalue("moto_server")
        env.update(s3_env(moto.endpoint, f"api-{uuid.uuid4().hex[:8]}", REGISTRY_STORAGE_REDIRECT_DISABLE="true"))
    env.update(extra_env or {})
    return RegistryServer(tmp / "root", tmp / "run", env=env, workers=workers).start()


@pytest.fixture(scope="session", params=API_DRIVERS)
def api_server(request, tmp_path_factory):
    server = start_registry(request.param, tmp_path_factory, request)
    yield request.param, server
    server.stop()


@pytest.fixture
def api(api_server):
    driver, server = api_server
    client = Api(server, driver)
    yield client
    client.http.close()


@pytest.fixture(scope="session")
def registry(tmp_path_factory, request):
    """Our registry on the filesystem driver, for the real-client tests."""
    server = start_registry("filesystem", tmp_path_factory, request)
    yield server
    server.stop()


@pytest.fixture
def repo() -> str:
    return f"test/{uuid.uuid4().hex[:12]}"

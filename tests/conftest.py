"""Shared fixtures: our registry under gunicorn on free loopback ports.

``api`` is parametrised over every storage driver, so each API test runs
against each of them over real HTTP.  Tests use their own repository names,
so servers are shared per session.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from procs import MotoServer
from registry_servers import start_registry

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


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A real HTTP S3 endpoint; its 5 MiB minimum part size is AWS's."""
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


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


@pytest.fixture
def filesystem_api(registry):
    """``api`` on the filesystem server only, for tests that also write its root directly."""
    client = Api(registry, "filesystem")
    yield client
    client.http.close()

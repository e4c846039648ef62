"""Shared fixtures: our registry under gunicorn on free loopback ports.

``api`` is parametrised over every storage driver, so each API test runs
against each of them over real HTTP.  Tests use their own repository names,
so servers are shared per session.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from procs import RegistryServer

API_DRIVERS = ["filesystem", "inmemory"]


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


def _start(driver: str, tmp_path_factory, extra_env=None) -> RegistryServer:
    tmp = tmp_path_factory.mktemp(f"registry-{driver}")
    env = {"REGISTRY_LOG_ACCESSLOG_DISABLED": "true"}
    workers = 2
    if driver == "inmemory":
        env["REGISTRY_STORAGE"] = "inmemory"
        workers = 1  # its content lives in one process
    env.update(extra_env or {})
    return RegistryServer(tmp / "root", tmp / "run", env=env, workers=workers).start()


@pytest.fixture(scope="session", params=API_DRIVERS)
def api_server(request, tmp_path_factory):
    server = _start(request.param, tmp_path_factory)
    yield request.param, server
    server.stop()


@pytest.fixture
def api(api_server):
    driver, server = api_server
    client = Api(server, driver)
    yield client
    client.http.close()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Our registry on the filesystem driver, for the real-client tests."""
    server = _start("filesystem", tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture
def repo() -> str:
    return f"test/{uuid.uuid4().hex[:12]}"

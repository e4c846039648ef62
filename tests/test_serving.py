"""How the registry runs: ``make run``, gunicorn settings, one secret per instance."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time

import requests

from procs import REPO_ROOT, ManagedProcess, RegistryServer, free_port, wait_http


def test_make_run_serves_and_stops_on_sigterm(tmp_path):
    """Issue: `make run` stays in the foreground, honours REGISTRY_* and stops cleanly on SIGTERM."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "GUNICORN_", "MAKE"))}
    env.update(REGISTRY_HTTP_ADDR=f"127.0.0.1:{port}", REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=str(tmp_path / "root"))
    make = ManagedProcess(["make", "--no-print-directory", "run"], tmp_path, name="make-run", env=env, cwd=REPO_ROOT)
    make.start()
    try:
        assert wait_http(f"http://127.0.0.1:{port}/v2/", 60, make) == 200
        assert make.poll() is None  # still in the foreground
        make.popen.send_signal(15)
        assert make.popen.wait(timeout=30) is not None
        workers = subprocess.run(["pgrep", "-g", str(make.pid)], capture_output=True, text=True).stdout.split()
        assert workers == []  # master and workers are gone, nothing left in the group
        assert "Shutting down: Master" in make.log_tail()
    finally:
        make.kill()


def test_slow_upload_outlives_the_worker_timeout(tmp_path):
    """Issue: a long upload from a slow client is never cut off by the worker timeout (gthread)."""
    server = RegistryServer(tmp_path / "root", tmp_path / "run", env={"GUNICORN_TIMEOUT": "2"}, workers=1).start()
    try:
        pieces = [bytes([i]) * 65536 for i in range(6)]
        digest = "sha256:" + hashlib.sha256(b"".join(pieces)).hexdigest()

        def slowly():
            for piece in pieces:
                time.sleep(1)  # 6 s in all, three times the worker timeout
                yield piece

        location = requests.post(f"{server.url}/v2/slow/blobs/uploads/").headers["Location"]
        response = requests.patch(location, data=slowly())
        assert response.status_code == 202, response.text
        assert response.headers["Range"] == f"0-{6 * 65536 - 1}"
        response = requests.put(response.headers["Location"] + f"&digest={digest}")
        assert response.status_code == 201
    finally:
        server.stop()


def test_workers_share_one_generated_secret(tmp_path):
    """Issue: with several workers and no configured http.secret, all workers agree on one secret:
    an upload whose requests land on different workers (fresh connections) still completes."""
    server = RegistryServer(tmp_path / "root", tmp_path / "run", env={"REGISTRY_HTTP_SECRET": ""}, workers=4).start()
    try:
        data = os.urandom(40 * 1024)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = requests.post(f"{server.url}/v2/secret/blobs/uploads/").headers["Location"]
        for offset in range(0, len(data), 1024):
            with requests.Session() as fresh:  # a new connection: any worker may take it
                response = fresh.patch(location, data=data[offset:offset + 1024],
                                       headers={"Content-Range": f"{offset}-{offset + 1023}"})
            assert response.status_code == 202, response.text
            location = response.headers["Location"]
        assert requests.put(location + f"&digest={digest}").status_code == 201
        assert "http.secret is not configured" in server.proc.log_tail(20000)
    finally:
        server.stop()


def test_locations_honour_forwarded_headers_and_http_host(tmp_path):
    """Issue: behind a proxy, Location URLs honour X-Forwarded-Proto/Host, or http.host when set."""
    server = RegistryServer(tmp_path / "root", tmp_path / "run", workers=1).start()
    configured = RegistryServer(tmp_path / "root2", tmp_path / "run2", workers=1,
                                env={"REGISTRY_HTTP_HOST": "https://registry.example"}).start()
    try:
        forwarded = requests.post(f"{server.url}/v2/fwd/blobs/uploads/",
                                  headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "proxy.example:8443"})
        assert forwarded.headers["Location"].startswith("https://proxy.example:8443/v2/fwd/blobs/uploads/")
        plain = requests.post(f"{server.url}/v2/fwd/blobs/uploads/")
        assert plain.headers["Location"].startswith(f"{server.url}/v2/fwd/blobs/uploads/")
        fixed = requests.post(f"{configured.url}/v2/fwd/blobs/uploads/", headers={"X-Forwarded-Host": "ignored"})
        assert fixed.headers["Location"].startswith("https://registry.example/v2/fwd/blobs/uploads/")
    finally:
        server.stop()
        configured.stop()

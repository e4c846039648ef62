"""Process helpers for tests (and bench/): start real servers, stop them by PID.

Every server runs on a free 127.0.0.1 port, in its own session (so a stuck
one and all its children can be SIGKILLed as one process group), with its
pid file, log and data under the directory the caller gives (pytest's
tmp_path), and is only handed out once it answers HTTP.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: "ManagedProcess | None" = None) -> int:
    """Wait until ``url`` answers with any HTTP status; return that status.

    Any status counts (a registry with auth answers 401, which is "up").
    With ``proc``, fail at once, with its log, if the process died instead.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.poll()} before answering {url}\n{proc.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, urllib.error.URLError) as e:
            last = e
        time.sleep(0.05)
    tail = proc.log_tail() if proc is not None else ""
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})\n{tail}")


def skopeo(*args, timeout: float = 300) -> str:
    """Run ``skopeo --insecure-policy ARGS`` (no dependence on the host's
    /etc/containers/policy.json); return stdout, raise with stderr on failure."""
    res = subprocess.run(["skopeo", "--insecure-policy", *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise SkopeoError(args, res.returncode, res.stderr)
    return res.stdout


class SkopeoError(AssertionError):
    def __init__(self, args, returncode, stderr):
        super().__init__(f"skopeo {' '.join(map(str, args))} failed ({returncode}):\n{stderr}")
        self.stderr = stderr


class ManagedProcess:
    """One child process in its own session, logging to ``run_dir/NAME.log``.

    ``stop()`` sends SIGTERM to the PID we started and, if it has not exited
    after ``timeout``, SIGKILLs its whole process group; ``kill()`` SIGKILLs
    the group at once. Either way leftovers in the group (workers) are
    killed too, so nothing outlives a test.
    """

    def __init__(self, argv, run_dir, *, name=None, env=None, cwd=None, stop_timeout=15.0):
        self.argv = [str(a) for a in argv]
        self.run_dir = Path(run_dir)
        self.name = name or Path(self.argv[0]).name
        self.env = env
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self.log_path = self.run_dir / f"{self.name}.log"
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None, "not started"
        return self.popen.pid

    def start(self) -> "ManagedProcess":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own session => own process group (pgid == pid)
            )
        return self

    def poll(self):
        return None if self.popen is None else self.popen.poll()

    def _killpg(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group (crash simulation / last resort)."""
        if self.popen is None:
            return
        self._killpg()
        self.popen.wait()

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM by PID, wait, then SIGKILL the process group; return exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                pass
        self._killpg()  # stragglers (workers, helpers) of the group, or the hung leader
        return self.popen.wait()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class _Server:
    """Common shape: ``start()`` launches and waits until ready, ``stop()``."""

    proc: ManagedProcess
    ready_path = "/"
    start_timeout = 30.0

    def __init__(self, tmp_dir):
        self.tmp_dir = Path(tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.pidfile = self.tmp_dir / "server.pid"

    writes_own_pidfile = False  # gunicorn and nginx write theirs; never overwrite it

    def start(self):
        self.proc.start()
        if not self.writes_own_pidfile:
            self.pidfile.write_text(f"{self.proc.pid}\n")
        try:
            wait_http(self.url + self.ready_path, self.start_timeout, self.proc)
        except BaseException:
            self.proc.kill()
            raise
        return self

    def stop(self):
        return self.proc.stop()

    def kill(self):
        self.proc.kill()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class RegistryServer(_Server):
    """Our registry (gunicorn) exactly as deployed; config only via REGISTRY_* env."""

    ready_path = "/v2/"
    writes_own_pidfile = True

    def __init__(self, root_dir, tmp_dir, env=None, workers=2):
        super().__init__(tmp_dir)
        self.root = Path(root_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.pidfile = self.tmp_dir / "gunicorn.pid"  # gunicorn writes it itself
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "GUNICORN_"))}
        full_env.update(
            REGISTRY_HTTP_ADDR=self.host,
            REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=str(self.root),
            REGISTRY_STORAGE_DELETE_ENABLED="true",
            REGISTRY_HTTP_SECRET=secrets.token_hex(16),
        )
        full_env.update(env or {})
        self.env = full_env
        argv = [VENV_BIN / "gunicorn", "-c", "gunicorn.conf.py",
                "--pid", self.pidfile, "--workers", str(workers)]
        self.proc = ManagedProcess(argv, self.tmp_dir, name="registry", env=full_env, cwd=REPO_ROOT)



def _merge(base: dict, extra: dict) -> dict:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


class DistributionServer(_Server):
    """Debian's reference registry (distribution 2.8.2) with a generated config.

    ``s3`` (a dict of distribution's s3 driver params) replaces the filesystem
    storage. AWS_CA_BUNDLE is dropped from its environment because the Go AWS
    SDK then insists on that bundle even for a plain-http endpoint (moto).
    """

    ready_path = "/v2/"

    def __init__(self, root_dir, tmp_dir, config_extra=None, s3=None):
        super().__init__(tmp_dir)
        self.root = Path(root_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        storage = {"s3": s3} if s3 else {"filesystem": {"rootdirectory": str(self.root)}}
        storage["delete"] = {"enabled": True}
        config = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": storage,
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        _merge(config, config_extra or {})
        self.config_path = self.tmp_dir / "config.yml"
        self.config_path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        argv = ["env", "-u", "AWS_CA_BUNDLE", "docker-registry", "serve", self.config_path]
        self.proc = ManagedProcess(argv, self.tmp_dir, name="docker-registry")


class MotoServer(_Server):
    """moto's S3 (and other AWS) mock; ``.endpoint`` is its http URL."""

    def __init__(self, tmp_dir):
        super().__init__(tmp_dir)
        self.endpoint = self.url
        argv = [VENV_BIN / "moto_server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = ManagedProcess(argv, self.tmp_dir, name="moto")


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    # What a client actually sends: upload flow (PATCH/PUT, chunked or not,
    # Content-Range) and Accept headers, for debugging client behaviour.
    log_format wire '$request_method $request_uri $status req_len=$request_length '
                    'cl=$http_content_length te=$http_transfer_encoding '
                    'range=$http_content_range accept="$http_accept" ua="$http_user_agent"';
    access_log {d}/access.log wire;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream registry {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        chunked_transfer_encoding on;
        location / {{
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 900s;
            proxy_send_timeout 900s;
        }}
    }}
}}
"""


class NginxProxy(_Server):
    """nginx round-robin in front of ``upstreams`` ("127.0.0.1:PORT" each),
    streaming both ways (no request/response buffering), as a load-balanced
    deployment would. Everything it writes stays in ``tmp_dir``."""

    writes_own_pidfile = True

    ready_path = "/v2/"

    def __init__(self, tmp_dir, upstreams):
        super().__init__(tmp_dir)
        d = self.tmp_dir.resolve()
        servers = "\n".join(f"        server {u};" for u in upstreams)
        self.config_path = d / "nginx.conf"
        self.config_path.write_text(NGINX_CONF.format(d=d, port=self.port, servers=servers))
        self.pidfile = d / "nginx.pid"  # nginx writes it itself
        # -e: the error log before the config is read would otherwise be /var/log/nginx.
        argv = ["nginx", "-p", d, "-e", d / "error.log", "-c", self.config_path]
        self.proc = ManagedProcess(argv, d, name="nginx")

class DockerDaemon:
    """A private dockerd (vfs, no networking setup) plus ``.docker(*args)``.

    Unix socket paths are limited to 108 bytes and dockerd/containerd nest
    sockets deep below --exec-root, so exec-root and the API socket live in a
    short directory under /tmp when ``tmp_dir`` is too long; it is removed on
    stop. The docker CLI gets its own DOCKER_CONFIG so ~/.docker is untouched.
    """

    start_timeout = 60.0

    def __init__(self, tmp_dir, insecure_registries=()):
        self.tmp_dir = Path(tmp_dir).resolve()
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._short_dir = None
        if len(str(self.tmp_dir)) > 40:
            self._short_dir = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))
            short = self._short_dir
        else:
            short = self.tmp_dir
        self.exec_root = short / "x"
        self.socket = short / "d.sock"
        self.host = f"unix://{self.socket}"
        self.data_root = self.tmp_dir / "data"
        self.pidfile = self.tmp_dir / "dockerd.pid"
        self.cli_config = self.tmp_dir / "cli"
        self.cli_config.mkdir(exist_ok=True)
        argv = ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--storage-driver=vfs", "--data-root", self.data_root,
                "--exec-root", self.exec_root, "--pidfile", self.pidfile,
                "-H", self.host]
        for r in insecure_registries:
            argv += ["--insecure-registry", r]
        self.proc = ManagedProcess(argv, self.tmp_dir, name="dockerd", stop_timeout=30)

    def docker(self, *args, check=True, timeout=300) -> subprocess.CompletedProcess:
        """Run the docker CLI against this daemon; output is captured text."""
        env = dict(os.environ, DOCKER_HOST=self.host, DOCKER_CONFIG=str(self.cli_config))
        res = subprocess.run(["docker", *map(str, args)], env=env, capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(map(str, args))} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def start(self):
        self.proc.start()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.poll()}\n{self.proc.log_tail()}")
            if self.socket.exists() and self.docker("version", check=False, timeout=10).returncode == 0:
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"dockerd did not answer in {self.start_timeout}s\n{self.proc.log_tail()}")
            time.sleep(0.2)

    def stop(self):
        try:
            return self.proc.stop()
        finally:
            self._cleanup()

    def kill(self):
        try:
            self.proc.kill()
        finally:
            self._cleanup()

    def _cleanup(self):
        # dockerd bind-mounts --data-root onto itself; a killed one leaves the
        # mount behind, which would pin the directory.
        with open("/proc/mounts") as f:
            mounted = {line.split()[1] for line in f}
        for d in (self.data_root, self.exec_root):
            if str(d) in mounted:
                subprocess.run(["umount", "-l", str(d)], check=False)
        if self._short_dir is not None:
            shutil.rmtree(self._short_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":  # smoke check: python tests/procs.py
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for cls, args in [(MotoServer, (d / "moto",)),
                          (DistributionServer, (d / "r", d / "dist"))]:
            with cls(*args) as s:
                print(cls.__name__, s.url, "pid", s.pid, "ok")
        with DistributionServer(d / "r2", d / "dist2") as up, NginxProxy(d / "nginx", [up.host]) as px:
            print("nginx", px.url, urllib.request.urlopen(px.url + "/v2/").status)
        sys.exit(0)

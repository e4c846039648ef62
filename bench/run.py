"""Benchmark: our registry (Flask under gunicorn) against Debian's reference
``docker-registry`` (distribution 2.8), both speaking the Distribution API V2.

Usage (from the repository root)::

    .venv/bin/python bench/run.py [--quick] [--driver filesystem|s3]
                                  [--only NAME,...] [--rounds N]
                                  [--ours-cmd docker-registry] [--tmpdir DIR]
                                  [--output FILE]

Needs the Debian packages ``docker-registry``, ``wrk`` and ``hey``, and the
virtualenv's test extras (requests; moto[server] and boto3 for s3).  Exits 1
if any figure failed for either server (the failing request, status and body
are printed under "Errors" and kept in the JSON), else 0.

The script starts both registries itself, each on fresh storage in a temp
directory (filesystem), or with ``--driver s3`` each on its own bucket of one
``moto_server`` that it also starts (``bench/moto_counting.py``: moto's
server app wrapped in a middleware that counts S3 requests and bytes per
bucket).  It then runs every selected benchmark in alternating A/B rounds
(ours, reference, ours, reference, ...; ``--rounds`` each, default 2), prints
a table (best of the rounds: highest throughput, lowest time/latency/memory;
the JSON also holds every sample and the median) and writes
``bench/results/latest.json``.  Everything it starts is stopped by PID and its
temp directory removed at the end; every loop is bounded.

Besides the figures below, rows indented under a figure give the server's
CPU time for it (user + system seconds of the whole server process tree,
from /proc/PID/stat, per GiB moved, per request at 64 connections, or per
image push): unlike throughput, this is little affected by other load on
the machine.  With ``--driver s3`` there are also S3 request counts per
HTTP request / image push / catalog listing, counted by moto_counting.py
(see ``push`` below).

``ratio`` is ours/reference.  Column ``want`` says whether higher (``hi``:
throughput) or lower (``lo``: seconds, latency, memory, S3 traffic) is
better: ratio > 1 is better for ``hi`` rows, ratio < 1 for ``lo`` rows.

Benchmarks (names for ``--only``; a group name selects all its members):

``push.monolithic``, ``push.chunked``, ``push.streamed``
    1 GiB blob push: POST then one PUT ?digest= with the whole body
    (Content-Length, streamed from a generator); PATCH 16 MiB chunks with
    Content-Range then PUT; one PATCH with Transfer-Encoding: chunked then
    PUT.  MB/s (10^6 bytes/s) over POST..final 201.  Each push has distinct
    content (a random 32-byte prefix on one reused 16 MiB random buffer), so
    no benchmark process holds more than ~32 MiB of blob data.  With
    ``--driver s3`` also: S3 requests per push and S3 bytes read back
    (GetObject response bodies) / written (PutObject and UploadPart request
    bodies) / server-side copied (CopyObject, UploadPartCopy) per pushed
    byte, from the counters of bench/moto_counting.py (moto's own server
    app wrapped in a WSGI middleware that classifies and counts every S3
    request per bucket; each registry has its own bucket), read before and
    0.5 s after the push; the per-operation breakdown is in the JSON.
``pull.full``, ``pull.range``
    GET of a 1 GiB blob streamed to nowhere (MB/s, time to first byte); Range
    GETs of the last 1 MiB (latency, content verified) and of an unaligned
    64 MiB range in the middle (MB/s and latency, content verified).
``rps``
    Requests/s for a few seconds at 8 and 64 keep-alive connections each:
    GET manifest by tag (with an Accept header for OCI and Docker manifests)
    and GET tags list (50 tags) with ``wrk`` (Debian package ``wrk``, 2
    threads, a Lua script for headers and a JSON summary); HEAD blob with
    ``hey`` (Debian package ``hey``; ``-m HEAD``), because Debian's wrk 4.1.0
    cannot do HEAD: its response parser waits for the Content-Length body
    that a HEAD answer never has and so counts 0 requests.  p50/p99 latency
    in the JSON.  A non-2xx answer or a socket error is reported as an error
    for that figure (with one retried request's status and body).
``images``
    300 small image pushes from 8 threads (each: HEAD, POST, PUT for the
    config and 1-2 tiny layers, then PUT of an OCI manifest; distinct
    content).  Images/s.
``catalog``
    Creates 2,000 repositories through the API once per server (a seed repo,
    then per repo two cross-repo mounts and a manifest PUT, from 8 threads;
    a mount answered 202 is completed by a PUT with the body), reported as
    repos/s; then times GET /v2/_catalog?n=10000 and the walk with n=100
    following Link headers (seconds, best of 3 per round).
``memory``
    Peak RSS and PSS summed over the server's process tree (gunicorn master
    and workers; docker-registry's single process), sampled every 0.1 s from
    /proc/PID/smaps_rollup during a 1 GiB and a 2 GiB streamed-PATCH push,
    plus the tree's RSS before and 2 s after.  MiB.

``--quick`` shrinks everything (64 MiB blobs, 128 MiB memory push, 16 MiB
range, 1 s wrk, 30 images, 200 repos) to finish in a minute or two.

``--ours-cmd docker-registry`` (or environment ``BENCH_OURS_CMD``) runs a
second docker-registry in place of ours: a reference-against-itself run to
develop the benchmark or to gauge its noise.  Otherwise ours is started from
the repository root as::

    env REGISTRY_HTTP_ADDR=127.0.0.1:PORT REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=DIR \\
        REGISTRY_LOG_ACCESSLOG_DISABLED=true REGISTRY_LOG_LEVEL=error \\
        .venv/bin/gunicorn -c gunicorn.conf.py --pid PIDFILE

(for S3 with REGISTRY_STORAGE=s3 and REGISTRY_STORAGE_S3_* pointing at moto,
REGISTRY_STORAGE_REDIRECT_DISABLE=true), and the reference as
``env -u AWS_CA_BUNDLE docker-registry serve CONFIG.yml`` with delete enabled,
redirects disabled and catalog.maxentries raised to 100000.

After each push benchmark the blob is deleted through the API and then any
file (filesystem) or S3 object whose name contains the digest's hex is
removed, so the disk does not fill across rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from _procs import (MemorySampler, Proc, free_port, tree_cpu,  # noqa: E402
                    tree_memory, wait_http)

MiB = 1 << 20
GiB = 1 << 30
CHUNK = 16 * MiB
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT_MANIFESTS = ", ".join([
    OCI_MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


class BenchError(Exception):
    pass


def describe(resp: requests.Response, what: str = "") -> str:
    req = resp.request
    try:
        body = resp.text[:500]
    except Exception:  # noqa: BLE001
        body = "<unreadable>"
    return (f"{what + ': ' if what else ''}{req.method} {req.url} -> "
            f"{resp.status_code} {resp.reason}; body: {body!r}")


def expect(resp: requests.Response, codes, what: str = "") -> requests.Response:
    if isinstance(codes, int):
        codes = (codes,)
    if resp.status_code not in codes:
        raise BenchError(describe(resp, what) + f" (expected {codes})")
    return resp


def new_session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def run_threaded(work, count: int, threads: int = 8) -> float:
    """``work(session, i)`` for i in range(count) on ``threads`` threads, one
    keep-alive session per thread; the seconds it took."""
    local = threading.local()
    sessions = []
    lock = threading.Lock()

    def one(i: int):
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = new_session()
            with lock:
                sessions.append(s)
        work(s, i)

    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(threads) as ex:
            for f in [ex.submit(one, i) for i in range(count)]:
                f.result()
        return time.perf_counter() - t0
    finally:
        for s in sessions:
            s.close()


# ---------------------------------------------------------------- content

class Content:
    """Blob content: a 16 MiB header (random 32-byte nonce + the shared
    buffer's remainder) followed by copies of the shared random buffer."""

    def __init__(self, buf: bytes, size: int):
        assert size % CHUNK == 0 and size > 0
        self.buf = buf
        self.size = size
        self.nonce = os.urandom(32)
        self.header = self.nonce + buf[32:]
        h = hashlib.sha256(self.header)
        for _ in range(size // CHUNK - 1):
            h.update(buf)
        self.digest = "sha256:" + h.hexdigest()

    def pieces(self):
        yield self.header
        for _ in range(self.size // CHUNK - 1):
            yield self.buf

    def slices(self, step: int = MiB):
        for piece in self.pieces():
            mv = memoryview(piece)
            for off in range(0, len(piece), step):
                yield mv[off:off + step]

    def at(self, offset: int, length: int) -> bytes:
        out = bytearray()
        while length > 0:
            idx, off = divmod(offset, CHUNK)
            piece = self.header if idx == 0 else self.buf
            n = min(length, CHUNK - off)
            out += piece[off:off + n]
            offset += n
            length -= n
        return bytes(out)


class SizedBody:
    """Iterable with a length: requests sends Content-Length, streams it."""

    def __init__(self, content: Content):
        self.content = content

    def __len__(self) -> int:
        return self.content.size

    def __iter__(self):
        return self.content.pieces()


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, role: str, kind: str, url: str, proc: Proc,
                 root: str | None, bucket: str | None, pidfile: str | None):
        self.role = role          # "ours" | "reference"
        self.kind = kind          # "gunicorn" | "docker-registry"
        self.url = url
        self.proc = proc
        self.root = root
        self.bucket = bucket
        self.pidfile = pidfile
        self.state: dict = {}
        self.dead = False

    @property
    def pid(self) -> int:
        if self.pidfile:
            try:
                with open(self.pidfile) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                pass
        return self.proc.pid


def ready(url: str, proc: Proc) -> None:
    try:
        wait_http(url, proc)
    except BaseException:
        proc.stop()
        raise


def reference_config(path: str, port: int, driver: str, root: str,
                     s3: dict | None) -> None:
    if driver == "s3":
        storage = f"""  s3:
    bucket: {s3['bucket']}
    region: us-east-1
    regionendpoint: {s3['endpoint']}
    forcepathstyle: true
    accesskey: x
    secretkey: x
    secure: false
  redirect:
    disable: true
"""
    else:
        storage = f"""  filesystem:
    rootdirectory: {root}
"""
    with open(path, "w") as f:
        f.write(f"""version: 0.1
log:
  accesslog:
    disabled: true
  level: error
storage:
{storage}  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
catalog:
  maxentries: 100000
""")


def start_reference(role: str, tmp: str, driver: str, s3: dict | None) -> Server:
    port = free_port()
    root = os.path.join(tmp, f"{role}-data")
    os.makedirs(root, exist_ok=True)
    cfg = os.path.join(tmp, f"{role}-config.yml")
    reference_config(cfg, port, driver, root, s3)
    proc = Proc(f"{role} (docker-registry)",
                ["env", "-u", "AWS_CA_BUNDLE", "docker-registry", "serve", cfg],
                os.path.join(tmp, f"{role}.log"))
    url = f"http://127.0.0.1:{port}"
    ready(url + "/v2/", proc)
    return Server(role, "docker-registry", url, proc,
                  root if driver == "filesystem" else None,
                  s3["bucket"] if s3 else None, None)


def start_ours(tmp: str, driver: str, s3: dict | None) -> Server:
    port = free_port()
    root = os.path.join(tmp, "ours-data")
    os.makedirs(root, exist_ok=True)
    pidfile = os.path.join(tmp, "ours.pid")
    env = dict(os.environ)
    env.update({
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
        "REGISTRY_LOG_ACCESSLOG_DISABLED": "true",
        "REGISTRY_LOG_LEVEL": "error",
    })
    if driver == "s3":
        env.update({
            "REGISTRY_STORAGE": "s3",
            "REGISTRY_STORAGE_S3_BUCKET": s3["bucket"],
            "REGISTRY_STORAGE_S3_REGIONENDPOINT": s3["endpoint"],
            "REGISTRY_STORAGE_S3_FORCEPATHSTYLE": "true",
            "REGISTRY_STORAGE_S3_REGION": "us-east-1",
            "REGISTRY_STORAGE_S3_ACCESSKEY": "x",
            "REGISTRY_STORAGE_S3_SECRETKEY": "x",
            "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
        })
    else:
        env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] = root
    argv = [os.path.join(ROOT, ".venv", "bin", "gunicorn"),
            "-c", "gunicorn.conf.py", "--pid", pidfile]
    proc = Proc("ours (gunicorn)", argv, os.path.join(tmp, "ours.log"),
                env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    ready(url + "/v2/", proc)
    return Server("ours", "gunicorn", url, proc,
                  root if driver == "filesystem" else None,
                  s3["bucket"] if s3 else None, pidfile)


class Moto:
    def __init__(self, tmp: str):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        mtmp = os.path.join(tmp, "moto-tmp")
        os.makedirs(mtmp, exist_ok=True)
        env = dict(os.environ, TMPDIR=mtmp)
        env.pop("AWS_CA_BUNDLE", None)
        self.proc = Proc("moto", [sys.executable,
                                  os.path.join(HERE, "moto_counting.py"),
                                  str(self.port)],
                         os.path.join(tmp, "moto.log"), env=env)
        ready(self.endpoint + "/__bench/stats", self.proc)
        import boto3
        from botocore.config import Config
        self.s3 = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
            verify=False, config=Config(s3={"addressing_style": "path"}))

    def create_bucket(self, name: str) -> None:
        self.s3.create_bucket(Bucket=name)

    def stats(self, bucket: str) -> dict:
        with new_session() as s:
            return s.get(self.endpoint + "/__bench/stats").json().get(bucket, {})

    def delete_matching(self, bucket: str, needle: str) -> int:
        n = 0
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for page in pages:
            for obj in page.get("Contents", []):
                if needle in obj["Key"]:
                    self.s3.delete_object(Bucket=bucket, Key=obj["Key"])
                    n += 1
        return n


def s3_diff(before: dict, after: dict) -> dict:
    out = {}
    for op, c in after.items():
        b = before.get(op, {"count": 0, "in": 0, "out": 0, "copied": 0})
        d = {k: c[k] - b.get(k, 0) for k in c}
        if any(d.values()):
            out[op] = d
    return out


# ---------------------------------------------------------------- API helpers

def upload_url(srv: Server, resp: requests.Response) -> str:
    loc = resp.headers.get("Location")
    if not loc:
        raise BenchError(describe(resp, "no Location header"))
    return urljoin(srv.url + "/", loc)


def with_digest(url: str, digest: str) -> str:
    return url + ("&" if "?" in url else "?") + "digest=" + digest


def start_upload(s: requests.Session, srv: Server, repo: str) -> str:
    r = expect(s.post(f"{srv.url}/v2/{repo}/blobs/uploads/"), 202,
               "start upload")
    return upload_url(srv, r)


def push_monolithic(s, srv, repo, content: Content) -> None:
    loc = start_upload(s, srv, repo)
    r = s.put(with_digest(loc, content.digest), data=SizedBody(content),
              headers={"Content-Type": "application/octet-stream"})
    expect(r, 201, "monolithic PUT")


def push_chunked(s, srv, repo, content: Content) -> None:
    loc = start_upload(s, srv, repo)
    off = 0
    for piece in content.pieces():
        r = s.patch(loc, data=piece, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{off}-{off + len(piece) - 1}"})
        expect(r, 202, f"PATCH chunk at {off}")
        loc = upload_url(srv, r)
        off += len(piece)
    r = s.put(with_digest(loc, content.digest), data=b"")
    expect(r, 201, "chunked final PUT")


def push_streamed(s, srv, repo, content: Content) -> None:
    loc = start_upload(s, srv, repo)
    r = s.patch(loc, data=content.slices(),
                headers={"Content-Type": "application/octet-stream"})
    expect(r, 202, "streamed PATCH")
    loc = upload_url(srv, r)
    r = s.put(with_digest(loc, content.digest), data=b"")
    expect(r, 201, "streamed final PUT")


PUSHERS = {"monolithic": push_monolithic, "chunked": push_chunked,
           "streamed": push_streamed}


def push_small_blob(s, srv, repo, data: bytes, check: bool = True) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if check:
        r = s.head(f"{srv.url}/v2/{repo}/blobs/{digest}")
        expect(r, (200, 404), "HEAD blob")
        if r.status_code == 200:
            return digest
    loc = start_upload(s, srv, repo)
    r = s.put(with_digest(loc, digest), data=data,
              headers={"Content-Type": "application/octet-stream"})
    expect(r, 201, "blob PUT")
    return digest


def mount_blob(s, srv, repo, digest, source, data: bytes) -> None:
    r = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/",
               params={"mount": digest, "from": source})
    expect(r, (201, 202), "mount")
    if r.status_code == 202:   # mount not done: complete as a normal upload
        r = s.put(with_digest(upload_url(srv, r), digest), data=data,
                  headers={"Content-Type": "application/octet-stream"})
        expect(r, 201, "blob PUT after unanswered mount")


def manifest_bytes(config: tuple[str, int], layers: list[tuple[str, int]]) -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config[0],
                   "size": config[1]},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": n}
                   for d, n in layers],
    }, indent=2).encode()


def put_manifest(s, srv, repo, ref, body: bytes) -> None:
    r = s.put(f"{srv.url}/v2/{repo}/manifests/{ref}", data=body,
              headers={"Content-Type": OCI_MANIFEST})
    expect(r, 201, "manifest PUT")


def config_bytes(tag: str, layers: list[bytes]) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"bench": tag}},
        "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(x).hexdigest() for x in layers]},
    }).encode()


def small_image(s, srv, repo, tag, nlayers: int) -> None:
    layers = [os.urandom(512 + int.from_bytes(os.urandom(2), "big") % 3584)
              for _ in range(nlayers)]
    cfg = config_bytes(tag, layers)
    ldescs = [(push_small_blob(s, srv, repo, x), len(x)) for x in layers]
    cdesc = (push_small_blob(s, srv, repo, cfg), len(cfg))
    put_manifest(s, srv, repo, tag, manifest_bytes(cdesc, ldescs))


# ---------------------------------------------------------------- benchmark

class Bench:
    def __init__(self, args, tmp: str, moto: Moto | None):
        self.args = args
        self.tmp = tmp
        self.moto = moto
        q = args.quick
        self.blob_size = 64 * MiB if q else GiB
        self.mem_small = 64 * MiB if q else GiB
        self.mem_big = 128 * MiB if q else 2 * GiB
        self.range_len = 16 * MiB if q else 64 * MiB
        self.wrk_seconds = 1 if q else 5
        if args.driver == "s3":   # moto answers slowly: give requests time
            self.wrk_seconds = max(self.wrk_seconds, 3)
        self.images = 30 if q else 300
        self.repos = 200 if q else 2000
        self.buf = os.urandom(CHUNK)
        self.figures: dict = {}
        self.errors: dict = {}
        self.extra: dict = {}
        self.seq = 0

    # -- recording
    def fig(self, key, label, unit, better, role, value, detail=None):
        f = self.figures.setdefault(key, {
            "label": label, "unit": unit, "better": better,
            "ours": [], "reference": [], "detail": {"ours": [], "reference": []}})
        f[role].append(value)
        if detail is not None:
            f["detail"][role].append(detail)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def reclaim(self, srv: Server, s, repo: str, digest: str) -> None:
        try:
            s.delete(f"{srv.url}/v2/{repo}/blobs/{digest}")
        except requests.RequestException:
            pass
        hexd = digest.split(":", 1)[1]
        if srv.root:
            for dirpath, _dirs, files in os.walk(srv.root):
                for name in files:
                    path = os.path.join(dirpath, name)
                    if hexd in path:
                        try:
                            os.unlink(path)
                        except OSError:
                            pass
        elif srv.bucket and self.moto:
            self.moto.delete_matching(srv.bucket, hexd)

    # -- push
    def b_push(self, mode: str):
        def run(srv: Server, rnd: int):
            content = Content(self.buf, self.blob_size)
            repo = f"bench/push-{mode}"
            with new_session() as s:
                before = self.moto.stats(srv.bucket) if self.moto else None
                c0 = tree_cpu(srv.pid)
                t0 = time.perf_counter()
                PUSHERS[mode](s, srv, repo, content)
                dt = time.perf_counter() - t0
                cpu = tree_cpu(srv.pid) - c0
                mbs = content.size / dt / 1e6
                self.fig(f"push.{mode}", f"push {self.blob_size // MiB} MiB {mode}",
                         "MB/s", "hi", srv.role, mbs, {"seconds": dt})
                self.fig(f"push.{mode}.cpu", f"  server CPU per GiB ({mode} push)",
                         "CPU s", "lo", srv.role, cpu * GiB / content.size)
                if self.moto:
                    time.sleep(0.5)
                    d = s3_diff(before, self.moto.stats(srv.bucket))
                    self.s3_figures(f"push.{mode}", srv, d, content.size)
                self.reclaim(srv, s, repo, content.digest)
        return run

    def s3_snap(self, srv: Server) -> dict | None:
        return self.moto.stats(srv.bucket) if self.moto else None

    def s3_requests_since(self, srv: Server, before: dict | None) -> int | None:
        if before is None:
            return None
        d = s3_diff(before, self.moto.stats(srv.bucket))
        return sum(c["count"] for c in d.values())

    def s3_figures(self, key, srv, d: dict, size: int):
        reqs = sum(c["count"] for c in d.values())
        read = sum(c["out"] for op, c in d.items() if op == "GetObject")
        written = sum(c["in"] for op, c in d.items()
                      if op in ("PutObject", "UploadPart"))
        copied = sum(c["copied"] for c in d.values())
        name = key.split(".", 1)[1]
        self.fig(f"s3.{name}.requests", f"  S3 requests ({name} push)",
                 "requests", "lo", srv.role, reqs, d)
        self.fig(f"s3.{name}.read", f"  S3 bytes read / pushed ({name})",
                 "ratio", "lo", srv.role, read / size, {"bytes_read": read})
        self.fig(f"s3.{name}.written", f"  S3 bytes written / pushed ({name})",
                 "ratio", "lo", srv.role, written / size)
        self.fig(f"s3.{name}.copied", f"  S3 bytes copied / pushed ({name})",
                 "ratio", "lo", srv.role, copied / size)

    # -- pull
    def pull_blob(self, srv: Server) -> tuple[str, Content]:
        if "pull" not in srv.state:
            content = Content(self.buf, self.blob_size)
            repo = "bench/pull"
            with new_session() as s:
                push_streamed(s, srv, repo, content)
            srv.state["pull"] = (repo, content)
        return srv.state["pull"]

    @staticmethod
    def _read_all(r: requests.Response, sink: bytearray) -> int:
        fp = getattr(r.raw, "_fp", None)
        total = 0
        mv = memoryview(sink)
        if fp is not None and hasattr(fp, "readinto"):
            while True:
                n = fp.readinto(mv)
                if not n:
                    break
                total += n
        else:
            while True:
                d = r.raw.read(len(sink), decode_content=False)
                if not d:
                    break
                total += len(d)
        return total

    def b_pull_full(self, srv: Server, rnd: int):
        repo, content = self.pull_blob(srv)
        sink = bytearray(MiB)
        with new_session() as s:
            c0 = tree_cpu(srv.pid)
            t0 = time.perf_counter()
            r = s.get(f"{srv.url}/v2/{repo}/blobs/{content.digest}", stream=True,
                      headers={"Accept-Encoding": "identity"})
            ttfb = time.perf_counter() - t0
            expect(r, 200, "blob GET")
            n = self._read_all(r, sink)
            dt = time.perf_counter() - t0
            cpu = tree_cpu(srv.pid) - c0
            r.close()
        if n != content.size:
            raise BenchError(f"GET {r.url}: read {n} bytes, expected {content.size}")
        self.fig("pull.full", f"pull {self.blob_size // MiB} MiB", "MB/s", "hi",
                 srv.role, n / dt / 1e6, {"seconds": dt})
        self.fig("pull.cpu", "  server CPU per GiB (pull)", "CPU s", "lo",
                 srv.role, cpu * GiB / n)
        self.fig("pull.ttfb", "  pull: time to first byte", "ms", "lo",
                 srv.role, ttfb * 1000)

    @staticmethod
    def _read_into(r: requests.Response, buf: bytearray) -> int:
        """Reads the body into buf; returns the byte count (len(buf) + 1 if
        the body is longer than buf)."""
        fp = getattr(r.raw, "_fp", None)
        direct = fp is not None and hasattr(fp, "readinto")
        mv = memoryview(buf)
        got = 0
        while got < len(buf):
            if direct:
                n = fp.readinto(mv[got:])
            else:
                d = r.raw.read(len(buf) - got, decode_content=False)
                mv[got:got + len(d)] = d
                n = len(d)
            if not n:
                return got
            got += n
        extra = fp.read(1) if direct else r.raw.read(1, decode_content=False)
        return got + len(extra)

    def _range(self, s, srv, repo, content, off, length):
        end = off + length - 1
        buf = bytearray(length)
        t0 = time.perf_counter()
        r = s.get(f"{srv.url}/v2/{repo}/blobs/{content.digest}", stream=True,
                  headers={"Range": f"bytes={off}-{end}",
                           "Accept-Encoding": "identity"})
        if r.status_code != 206:
            expect(r, 206, f"Range bytes={off}-{end}")
        got = self._read_into(r, buf)
        dt = time.perf_counter() - t0
        r.close()
        want_cr = f"bytes {off}-{end}/{content.size}"
        if r.headers.get("Content-Range") != want_cr:
            raise BenchError(f"GET {r.url} Range bytes={off}-{end} -> "
                             f"{r.status_code}: Content-Range "
                             f"{r.headers.get('Content-Range')!r}, want {want_cr!r}")
        if got != length:
            raise BenchError(f"GET {r.url} Range bytes={off}-{end} -> "
                             f"{r.status_code}: body of {got}"
                             f"{'+' if got > length else ''} bytes, want {length}")
        if buf != content.at(off, length):
            raise BenchError(f"GET {r.url} Range bytes={off}-{end} -> "
                             f"{r.status_code}: content differs from the pushed bytes")
        return dt

    def b_pull_range(self, srv: Server, rnd: int):
        repo, content = self.pull_blob(srv)
        with new_session() as s:
            tail = [self._range(s, srv, repo, content, content.size - MiB, MiB)
                    for _ in range(5)]
            off = content.size // 2 - self.range_len // 2 + 4097
            mids = [self._range(s, srv, repo, content, off, self.range_len)
                    for _ in range(3)]
        self.fig("pull.range_tail", "range GET last 1 MiB", "ms", "lo",
                 srv.role, statistics.median(tail) * 1000)
        best = min(mids)
        self.fig("pull.range_mid", f"range GET middle {self.range_len // MiB} MiB",
                 "MB/s", "hi", srv.role, self.range_len / best / 1e6)
        self.fig("pull.range_mid_ms", f"  range GET middle {self.range_len // MiB} MiB",
                 "ms", "lo", srv.role, best * 1000)

    # -- rps
    def rps_fixture(self, srv: Server) -> dict:
        if "rps" not in srv.state:
            repo = "bench/rps"
            with new_session() as s:
                layer = os.urandom(4096)
                ld = push_small_blob(s, srv, repo, layer)
                cfg = config_bytes("rps", [layer])
                cd = push_small_blob(s, srv, repo, cfg)
                m = manifest_bytes((cd, len(cfg)), [(ld, len(layer))])
                put_manifest(s, srv, repo, "latest", m)
                for i in range(50):
                    put_manifest(s, srv, repo, f"t{i:02d}", m)
            srv.state["rps"] = {"repo": repo, "blob": ld}
        return srv.state["rps"]

    def lua(self, name: str, method: str, headers: dict) -> str:
        path = os.path.join(self.tmp, f"wrk-{name}.lua")
        hdrs = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        with open(path, "w") as f:
            f.write(f'''wrk.method = "{method}"
{hdrs}
done = function(summary, latency, requests)
  io.write(string.format(
    "BENCHJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"mean_us\\":%f}}\\n",
    summary.requests, summary.duration, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99),
    latency.mean))
end
''')
        return path

    def b_rps(self, srv: Server, rnd: int):
        fx = self.rps_fixture(srv)
        repo = fx["repo"]
        cases = [
            ("head_blob", "HEAD blob", "HEAD", f"/v2/{repo}/blobs/{fx['blob']}", {}),
            ("get_manifest", "GET manifest by tag", "GET",
             f"/v2/{repo}/manifests/latest", {"Accept": ACCEPT_MANIFESTS}),
            ("tags_list", "GET tags list (50)", "GET", f"/v2/{repo}/tags/list", {}),
        ]
        failures = []
        with new_session() as s:
            for name, label, method, path, headers in cases:
                r = s.request(method, srv.url + path, headers=headers)
                if r.status_code != 200:
                    failures.append(describe(r, f"pre-check {label}"))
                    continue
                script = self.lua(name, method, headers) if method != "HEAD" else None
                for conns in (8, 64):
                    s3_0 = self.s3_snap(srv)
                    c0 = tree_cpu(srv.pid)
                    if method == "HEAD":
                        res = self.hey(srv.url + path, conns)
                    else:
                        res = self.wrk(srv.url + path, script, conns)
                    cpu = tree_cpu(srv.pid) - c0
                    rps = res["requests"] / (res["duration_us"] / 1e6)
                    res["server_cpu_s"] = cpu
                    self.fig(f"rps.{name}.c{conns}", f"{label}, {conns} conns",
                             "req/s", "hi", srv.role, rps, res)
                    if conns == 64 and res["requests"]:
                        self.fig(f"rps.{name}.cpu", f"  server CPU per request ({label})",
                                 "CPU ms", "lo", srv.role,
                                 cpu * 1000 / res["requests"])
                        n3 = self.s3_requests_since(srv, s3_0)
                        if n3 is not None:
                            self.fig(f"rps.{name}.s3", f"  S3 requests per request ({label})",
                                     "requests", "lo", srv.role, n3 / res["requests"])
                    bad = res["status"] + res["connect"] + res["read"] + \
                        res["write"] + res["timeout"]
                    if not res["requests"]:
                        failures.append(
                            f"{res['tool']} {label} c{conns}: no request completed "
                            f"in {self.wrk_seconds} s")
                    elif bad:
                        r2 = s.request(method, srv.url + path, headers=headers)
                        failures.append(
                            f"{res['tool']} {label} c{conns}: {res['status']} non-2xx/3xx, "
                            f"{res['connect']} connect, {res['read']} read, "
                            f"{res['write']} write, {res['timeout']} timeout "
                            f"errors of {res['requests']} requests; a retry: {describe(r2)}")
        if failures:
            raise BenchError("; ".join(failures))

    def wrk(self, url: str, script: str, conns: int) -> dict:
        argv = ["wrk", "-t2", f"-c{conns}", f"-d{self.wrk_seconds}s",
                "--timeout", "10s", "-s", script, url]
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=self.wrk_seconds + 60)
        for line in p.stdout.splitlines():
            if line.startswith("BENCHJSON "):
                res = json.loads(line[len("BENCHJSON "):])
                res["tool"] = "wrk"
                return res
        raise BenchError(f"wrk gave no result (rc {p.returncode}): "
                         f"{p.stdout[-800:]} {p.stderr[-800:]}")

    def hey(self, url: str, conns: int) -> dict:
        """HEAD load with hey: Debian's wrk 4.1.0 cannot do HEAD (its parser
        waits for the Content-Length body a HEAD answer never has)."""
        argv = ["hey", "-z", f"{self.wrk_seconds}s", "-c", str(conns),
                "-m", "HEAD", "-t", "10", "-disable-compression", url]
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=self.wrk_seconds + 60,
                           env=dict(os.environ, NO_PROXY="*", no_proxy="*"))
        out = p.stdout
        res = {"tool": "hey", "requests": 0, "connect": 0, "read": 0,
               "write": 0, "status": 0, "timeout": 0, "duration_us": 0}
        section = ""
        for line in out.splitlines():
            t = line.strip()
            if t.endswith(":") and not t.startswith("["):
                section = t
            if t.startswith("Total:"):
                res["duration_us"] = float(t.split()[1]) * 1e6
            elif t.startswith("Average:"):
                res["mean_us"] = float(t.split()[1]) * 1e6
            elif t.startswith("50% in"):
                res["p50_us"] = float(t.split()[2]) * 1e6
            elif t.startswith("99% in"):
                res["p99_us"] = float(t.split()[2]) * 1e6
            elif t.startswith("[") and section.startswith("Status code"):
                code = int(t[1:t.index("]")])
                n = int(t.split()[1])
                res["requests"] += n
                if not 200 <= code < 400:
                    res["status"] += n
            elif t.startswith("[") and section.startswith("Error"):
                res["read"] += int(t[1:t.index("]")])
        if not res["duration_us"]:
            raise BenchError(f"hey gave no result (rc {p.returncode}): "
                             f"{out[-800:]} {p.stderr[-800:]}")
        return res

    # -- images
    def b_images(self, srv: Server, rnd: int):
        tag0 = self.next_seq()

        def one(s, i: int):
            small_image(s, srv, f"bench/img-{i % 10}", f"r{tag0}-{i}", 1 + i % 2)

        s3_0 = self.s3_snap(srv)
        c0 = tree_cpu(srv.pid)
        dt = run_threaded(one, self.images)
        cpu = tree_cpu(srv.pid) - c0
        self.fig("images", f"{self.images} small image pushes, 8 threads",
                 "images/s", "hi", srv.role, self.images / dt, {"seconds": dt})
        self.fig("images.cpu", "  server CPU per image push", "CPU ms", "lo",
                 srv.role, cpu * 1000 / self.images)
        n3 = self.s3_requests_since(srv, s3_0)
        if n3 is not None:
            self.fig("images.s3", "  S3 requests per image push", "requests", "lo",
                     srv.role, n3 / self.images)

    # -- catalog
    def catalog_fixture(self, srv: Server):
        if "catalog" in srv.state:
            return
        seed = "cat/seed"
        layer = os.urandom(1024)
        cfg = config_bytes("catalog", [layer])
        with new_session() as s:
            ld = push_small_blob(s, srv, seed, layer)
            cd = push_small_blob(s, srv, seed, cfg)
        m = manifest_bytes((cd, len(cfg)), [(ld, len(layer))])

        def one(s, i: int):
            repo = f"cat/r{i:05d}"
            mount_blob(s, srv, repo, ld, seed, layer)
            mount_blob(s, srv, repo, cd, seed, cfg)
            put_manifest(s, srv, repo, "latest", m)

        dt = run_threaded(one, self.repos)
        self.fig("catalog.create", f"create {self.repos} repos (mount x2 + manifest)",
                 "repos/s", "hi", srv.role, self.repos / dt, {"seconds": dt})
        srv.state["catalog"] = {f"cat/r{i:05d}" for i in range(self.repos)}

    def _walk(self, s, srv, n: int) -> tuple[list, int]:
        url = f"{srv.url}/v2/_catalog?n={n}"
        repos: list = []
        pages = 0
        while url and pages < 100000:
            r = expect(s.get(url), 200, "catalog")
            pages += 1
            repos.extend(r.json().get("repositories") or [])
            nxt = r.links.get("next", {}).get("url")
            url = urljoin(srv.url + "/", nxt) if nxt else None
        return repos, pages

    def b_catalog(self, srv: Server, rnd: int):
        self.catalog_fixture(srv)
        want = srv.state["catalog"]
        res = {}
        s3_counts = {}
        with new_session() as s:
            for n in (10000, 100):
                times = []
                s3_0 = self.s3_snap(srv)
                for _ in range(3):
                    t0 = time.perf_counter()
                    repos, pages = self._walk(s, srv, n)
                    times.append(time.perf_counter() - t0)
                    missing = want - set(repos)
                    if missing:
                        raise BenchError(
                            f"GET /v2/_catalog?n={n} walk: {len(missing)} of "
                            f"{len(want)} repos missing (e.g. {sorted(missing)[:3]}); "
                            f"{len(repos)} listed in {pages} pages")
                    if len(repos) != len(set(repos)):
                        raise BenchError(f"GET /v2/_catalog?n={n} walk: duplicates")
                res[n] = (min(times), pages)
                n3 = self.s3_requests_since(srv, s3_0)
                if n3 is not None:
                    s3_counts[n] = n3 / 3
        self.fig("catalog.full", f"catalog n=10000 ({self.repos}+ repos)", "s", "lo",
                 srv.role, res[10000][0], {"pages": res[10000][1]})
        self.fig("catalog.paged", "catalog walk n=100", "s", "lo",
                 srv.role, res[100][0], {"pages": res[100][1]})
        for n, label in ((10000, "n=10000"), (100, "walk n=100")):
            if n in s3_counts:
                self.fig(f"catalog.s3.{n}", f"  S3 requests per catalog {label}",
                         "requests", "lo", srv.role, s3_counts[n])

    # -- memory
    def b_memory(self, srv: Server, rnd: int):
        pid = srv.pid
        base_rss, base_pss = tree_memory(pid)
        self.fig("mem.base", "memory: RSS idle before", "MiB", "lo", srv.role,
                 base_rss / 1024)
        for size, tag in ((self.mem_small, "small"), (self.mem_big, "big")):
            content = Content(self.buf, size)
            repo = "bench/memory"
            with new_session() as s:
                with MemorySampler(pid, 0.1) as m:
                    push_streamed(s, srv, repo, content)
                self.reclaim(srv, s, repo, content.digest)
            label = f"{size // MiB} MiB" if size < GiB else f"{size // GiB} GiB"
            self.fig(f"mem.{tag}.rss", f"memory: peak RSS, {label} push", "MiB",
                     "lo", srv.role, m.peak_rss / 1024, {"samples": m.samples})
            self.fig(f"mem.{tag}.pss", f"memory: peak PSS, {label} push", "MiB",
                     "lo", srv.role, m.peak_pss / 1024)
        time.sleep(2)
        rss, pss = tree_memory(pid)
        self.fig("mem.after", "memory: RSS 2 s after", "MiB", "lo", srv.role,
                 rss / 1024, {"pss": pss / 1024})

    def benchmarks(self):
        return [
            ("push.monolithic", self.b_push("monolithic")),
            ("push.chunked", self.b_push("chunked")),
            ("push.streamed", self.b_push("streamed")),
            ("pull.full", self.b_pull_full),
            ("pull.range", self.b_pull_range),
            ("rps", self.b_rps),
            ("images", self.b_images),
            ("catalog", self.b_catalog),
            ("memory", self.b_memory),
        ]


NAMES = ["push.monolithic", "push.chunked", "push.streamed", "pull.full",
         "pull.range", "rps", "images", "catalog", "memory"]


def selected(name: str, only: list[str] | None) -> bool:
    if not only:
        return True
    return any(name == o or name.startswith(o + ".") for o in only)


def summarize(values: list, better: str):
    if not values:
        return None, None
    best = max(values) if better == "hi" else min(values)
    return best, statistics.median(values)


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def report(bench: Bench, meta: dict) -> dict:
    rows = []
    out = {"meta": meta, "figures": {}, "errors": bench.errors}
    for key, f in bench.figures.items():
        ob, om = summarize(f["ours"], f["better"])
        rb, rm = summarize(f["reference"], f["better"])
        ratio = ob / rb if ob is not None and rb else None
        out["figures"][key] = {
            "label": f["label"].strip(), "unit": f["unit"], "better": f["better"],
            "ours": {"best": ob, "median": om, "samples": f["ours"]},
            "reference": {"best": rb, "median": rm, "samples": f["reference"]},
            "ratio_ours_over_reference": ratio,
            "detail": f["detail"],
        }
        rows.append((f["label"], f["unit"], f["better"], fmt(ob), fmt(rb),
                     fmt(ratio) if ratio is not None else "-"))
    hdr = ("figure", "unit", "want", "ours", "reference", "ratio")
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(6)]
    line = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(widths[i]) if i < 3 else str(c).rjust(widths[i])
        for i, c in enumerate(r))
    print()
    print(line(hdr))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    if bench.errors:
        print("\nErrors:")
        for name, per in bench.errors.items():
            for role, msg in per.items():
                print(f"  [{name}] {role}: {msg}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--driver", choices=("filesystem", "s3"), default="filesystem")
    ap.add_argument("--only", default="")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ours-cmd", default=os.environ.get("BENCH_OURS_CMD", ""),
                    help="'docker-registry' to run the reference in place of ours")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--output", default=os.path.join(HERE, "results", "latest.json"))
    args = ap.parse_args(argv)
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    if args.ours_cmd not in ("", "docker-registry"):
        ap.error("--ours-cmd accepts only 'docker-registry'")
    unknown = [o for o in only if not any(selected(n, [o]) for n in NAMES)]
    if unknown:
        ap.error(f"unknown --only {unknown}; names: {', '.join(NAMES)} "
                 "(or a group: push, pull)")
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None and selected("rps", only):
            ap.error(f"{tool} is not installed (apt-get install -y wrk hey)")

    tmp = tempfile.mkdtemp(prefix="registry-bench-", dir=args.tmpdir)
    procs: list[Proc] = []
    servers: list[Server] = []
    moto = None
    started = time.time()
    try:
        s3 = {}
        if args.driver == "s3":
            moto = Moto(tmp)
            procs.append(moto.proc)
            for role in ("ours", "reference"):
                bucket = f"bench-{role}"
                moto.create_bucket(bucket)
                s3[role] = {"bucket": bucket, "endpoint": moto.endpoint}
        if args.ours_cmd == "docker-registry":
            ours = start_reference("ours", tmp, args.driver, s3.get("ours"))
        else:
            ours = start_ours(tmp, args.driver, s3.get("ours"))
        procs.append(ours.proc)
        ref = start_reference("reference", tmp, args.driver, s3.get("reference"))
        procs.append(ref.proc)
        servers = [ours, ref]
        load0 = os.getloadavg()
        print(f"load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}"
              + ("  (the machine is busy: figures will be noisy)"
                 if load0[0] > 0.7 else ""), flush=True)
        print(f"ours: {ours.kind} at {ours.url} (pid {ours.pid}); "
              f"reference: docker-registry at {ref.url} (pid {ref.pid}); "
              f"driver {args.driver}; tmp {tmp}", flush=True)

        bench = Bench(args, tmp, moto)
        assert [n for n, _ in bench.benchmarks()] == NAMES
        for name, fn in bench.benchmarks():
            if not selected(name, only):
                continue
            for rnd in range(args.rounds):
                for srv in servers:
                    if name in bench.errors and srv.role in bench.errors[name]:
                        continue
                    if srv.dead or not srv.proc.alive():
                        srv.dead = True
                        bench.errors.setdefault(name, {})[srv.role] = (
                            "server process has exited; log tail:\n"
                            + srv.proc.log_tail(20))
                        continue
                    t0 = time.perf_counter()
                    try:
                        fn(srv, rnd)
                        status = "ok"
                    except (BenchError, requests.RequestException) as e:
                        bench.errors.setdefault(name, {})[srv.role] = str(e)
                        status = f"ERROR {str(e)[:300]}"
                    except Exception as e:  # noqa: BLE001
                        bench.errors.setdefault(name, {})[srv.role] = (
                            f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
                        status = f"ERROR {type(e).__name__}: {e}"
                    print(f"  {name:16s} round {rnd + 1} {srv.role:9s} "
                          f"{time.perf_counter() - t0:7.1f}s {status}", flush=True)

        meta = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "seconds": round(time.time() - started, 1),
            "argv": sys.argv[1:], "quick": args.quick, "driver": args.driver,
            "rounds": args.rounds, "ours": servers[0].kind,
            "reference": "docker-registry " + subprocess.run(
                ["docker-registry", "--version"], capture_output=True,
                text=True).stdout.strip(),
            "sizes": {"blob": bench.blob_size, "memory_small": bench.mem_small,
                      "memory_big": bench.mem_big, "range": bench.range_len,
                      "wrk_seconds": bench.wrk_seconds, "images": bench.images,
                      "repos": bench.repos},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "kernel": platform.release()},
            "best": "max for want=hi, min for want=lo, over rounds",
            "loadavg_start": load0, "loadavg_end": os.getloadavg(),
        }
        out = report(bench, meta)
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(out, f, indent=2, default=str)
        print(f"\nwrote {args.output} ({meta['seconds']} s)")
        return 1 if bench.errors else 0
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

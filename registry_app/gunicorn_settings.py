"""Gunicorn settings for registry traffic; each is overridable by environment.

Used by ``gunicorn -c gunicorn.conf.py`` and by ``registry serve``.

- gthread workers: the master's heartbeat comes from the worker's main
  thread, not from the request, so a many-GiB upload or download from a slow
  client is never killed by the worker timeout (the sync worker's 30 s
  timeout is a per-request limit).  Each connection with a request in
  progress holds a thread, so slow or stalled clients (slowloris) can take
  all of them: deploy behind nginx, which reads request headers itself.
- keep-alive for clients (docker, containerd) that reuse connections.
- workers from the CPU count.
- the app is preloaded in the master, so without a configured ``http.secret``
  one random secret is made before forking and every worker signs upload
  URLs with it.
"""

import os
import secrets

from registry_app.config import load_config

_config = load_config()

bind = os.environ.get("GUNICORN_BIND") or _config["http"]["addr"]
worker_class = "registry_app.gunicorn_worker.JsonErrorThreadWorker"
workers = int(os.environ.get("GUNICORN_WORKERS", os.cpu_count() or 1))
threads = int(os.environ.get("GUNICORN_THREADS", 16))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 75))
preload_app = True
accesslog = None if _config["log"]["accesslog"]["disabled"] else "-"
errorlog = "-"
# Distribution says "warn", gunicorn "warning".
loglevel = os.environ.get("GUNICORN_LOGLEVEL") or {"warn": "warning"}.get(
    str(_config["log"]["level"]).lower(), str(_config["log"]["level"]).lower()
)
# Upload URLs and manifest tags can be long.
limit_request_line = 8190
wsgi_app = "registry_app:app_from_environment()"
# gunicorn's control socket has one default path per user: several instances on
# a host would take it from each other.  Off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

if not _config["http"].get("secret") and not os.environ.get("REGISTRY_HTTP_SECRET"):
    # One secret for all workers of this instance; instances behind a load
    # balancer must share a configured one (see README).
    os.environ["REGISTRY_HTTP_SECRET"] = secrets.token_hex(32)
    os.environ["_REGISTRY_SECRET_GENERATED"] = "1"



def when_ready(server) -> None:
    """Keep the preloaded app's objects out of the collector before forking, so
    workers do not copy the pages that hold them (gunicorn's docs on preload)."""
    import gc

    gc.collect()
    gc.freeze()


def post_worker_init(worker) -> None:
    """Every worker offers to run the upload purger; one per instance does (see store.purge)."""
    import threading

    from registry_app.store.purge import purger_for_instance

    settings = _config["storage"].get("maintenance", {}).get("uploadpurging", {})
    if settings.get("enabled", True):
        store = worker.flask_app.extensions["registry"]
        threading.Thread(
            target=purger_for_instance, args=(store.driver, settings, worker.ppid), name="upload-purger", daemon=True
        ).start()

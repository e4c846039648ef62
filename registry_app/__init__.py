"""The registry as a Flask application: ``create_app(config)``."""

from __future__ import annotations

import logging
import os
import secrets

from flask import Flask, g, request

from storage_drivers import create_driver

from . import errors
from .blueprints import base, blobs, catalog, manifests, referrers, tags, uploads
from .config import load_config, storage_driver_of
from .store.repository import Store
from .store.signing import Signer
from .store.uploads import Uploads

log = logging.getLogger("registry")


def _secret(config: dict) -> str:
    """``http.secret``; gunicorn's settings make one per instance before forking when none is set."""
    secret = str(config["http"].get("secret") or "")
    if os.environ.get("_REGISTRY_SECRET_GENERATED"):
        log.warning(
            "http.secret is not configured: generated a random one for this instance. "
            "Several instances behind a load balancer must share one http.secret."
        )
    elif not secret:
        secret = secrets.token_hex(32)
        log.warning("http.secret is not configured: generated one for this process only")
    return secret


def _body_left_unread() -> bool:
    if not (request.content_length or "chunked" in request.headers.get("Transfer-Encoding", "").lower()):
        return False
    return not getattr(request.stream, "is_exhausted", False)


def create_app(config: dict | None = None) -> Flask:
    config = config or load_config()
    app = Flask(__name__)
    app.config["REGISTRY"] = config
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False  # "/v2//name" is an invalid name, not a redirect
    level = str(config["log"]["level"]).lower()
    logging.basicConfig(level={"warn": "WARNING"}.get(level, level.upper()))

    driver = create_driver(*storage_driver_of(config))
    store = Store(driver)
    upload_sessions = Uploads(driver, store, Signer(_secret(config)))
    app.extensions["registry"] = store

    @app.before_request
    def bind_store():
        if request.path.startswith("/v2//"):
            raise errors.NameInvalid({"reason": "repository names do not start with a slash"})
        g.store = store
        g.uploads = upload_sessions

    @app.after_request
    def api_version(response):
        response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
        if response.mimetype == "text/html":
            del response.headers["Content-Type"]  # Flask's default; this API never answers HTML
        if response.status_code >= 400 and _body_left_unread():
            # The server would have to skip the rest of the body to reuse the
            # connection; say that it will not, so clients do not send into it.
            response.headers["Connection"] = "close"
        return response

    for module in (base, catalog, blobs, uploads, manifests, tags, referrers):
        app.register_blueprint(module.bp)
    errors.register(app)
    return app


def app_from_environment() -> Flask:
    """The app for ``gunicorn``: configuration file path and overrides from the environment."""
    return create_app(load_config())

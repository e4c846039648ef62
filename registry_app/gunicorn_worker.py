"""The gthread worker, with two fixes for a registry's clients.

- Requests gunicorn itself cannot parse get the spec's JSON error body
  instead of gunicorn's HTML page.
- ``Connection: close`` set by the app is honoured: gunicorn drops it as a
  hop-by-hop header and keeps the connection, though the app answered an error
  without reading the request body.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker


def _write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    code = "SIZE_INVALID" if status_int in (413, 414, 431) else "UNSUPPORTED"
    body = json.dumps({"errors": [{"code": code, "message": reason.lower(), "detail": mesg}]}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "Docker-Distribution-API-Version: registry/2.0\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    util.write_nonblock(sock, head + body)


def _honour_connection_close(app):
    def application(environ, start_response):
        def start(status, headers, exc_info=None):
            if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
                getattr(getattr(start_response, "__self__", None), "force_close", lambda: None)()
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return application


class JsonErrorThreadWorker(ThreadWorker):
    def init_process(self):
        # gunicorn's error path calls util.write_error; this process is ours alone.
        util.write_error = _write_json_error
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        self.flask_app = self.wsgi
        self.wsgi = _honour_connection_close(self.wsgi)

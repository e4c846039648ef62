"""``GET /v2/<name>/tags/list``: tags in byte order, paginated by ``n`` and ``last``."""

from flask import Blueprint, g, jsonify

from ..http import page_request, paginate
from ..names import repository_name

bp = Blueprint("tags", __name__)


@bp.route("/v2/<path:name>/tags/list", methods=["GET"])
def list_tags(name):
    repository_name(name)
    n, last = page_request(default=None)
    tags, link = paginate(g.store.tags(name), n, last, f"/v2/{name}/tags/list")
    response = jsonify({"name": name, "tags": tags})
    if link:
        response.headers["Link"] = link
    return response

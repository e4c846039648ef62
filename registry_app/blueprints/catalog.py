"""``GET /v2/_catalog``: repository names in byte order, paginated by ``n`` and ``last``."""

from flask import Blueprint, g, jsonify

from ..http import MAX_PAGE, page_request, paginate

bp = Blueprint("catalog", __name__)


@bp.route("/v2/_catalog", methods=["GET"])
def catalog():
    n, last = page_request(default=MAX_PAGE)
    repositories, link = paginate(g.store.catalog(), n, last, "/v2/_catalog")
    response = jsonify({"repositories": repositories})
    if link:
        response.headers["Link"] = link
    return response

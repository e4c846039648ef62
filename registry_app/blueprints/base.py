"""``GET /v2/``: API version check."""

from flask import Blueprint, jsonify

bp = Blueprint("base", __name__)


@bp.route("/v2/", methods=["GET", "HEAD"])
def version_check():
    return jsonify({})

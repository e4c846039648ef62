"""``GET /v2/<name>/referrers/<digest>`` (OCI 1.1 "Listing Referrers")."""

from flask import Blueprint, Response, g, json, request

from ..digest import Digest
from ..manifest import OCI_INDEX
from ..names import repository_name

bp = Blueprint("referrers", __name__)


@bp.route("/v2/<path:name>/referrers/<digest>", methods=["GET"])
def list_referrers(name, digest):
    repository_name(name)
    subject = Digest.parse(digest)
    descriptors = g.store.referrers(name, subject)
    headers = {}
    artifact_type = request.args.get("artifactType")
    if artifact_type is not None:
        descriptors = [d for d in descriptors if d.get("artifactType") == artifact_type]
        headers["OCI-Filters-Applied"] = "artifactType"
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return Response(json.dumps(body), headers=headers, content_type=OCI_INDEX)

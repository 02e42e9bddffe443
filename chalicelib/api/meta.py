"""Routes about the API itself."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import contract
from chalicelib.api.http import Call, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/openapi.json", ["GET"], auth=False)
def openapi_document(call: Call) -> Response:
    """The OpenAPI 3.1 document of this API, generated from its routes and models."""
    return Response(body=contract.document(bp.current_app.routes), status_code=200, headers={"Content-Type": "application/json"})

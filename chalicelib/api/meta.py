"""Routes about the API itself."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api import contract
from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.common import OpenApiDocument

bp = Blueprint(__name__)


@endpoint(bp, "/openapi.json", ["GET"], auth=False)
def openapi_document(call: Call) -> OpenApiDocument:
    """The OpenAPI 3.1 document of this API, generated from its routes and models."""
    return OpenApiDocument.model_validate(contract.document(bp.current_app.routes))

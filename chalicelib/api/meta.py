"""Routes about the API itself."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api import openapi
from chalicelib.api.http import Call, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/openapi.json", ["GET"], auth=False)
def openapi_document(call: Call) -> dict[str, Any]:
    return openapi.document()

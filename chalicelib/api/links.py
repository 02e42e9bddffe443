"""The short-link redirect: GET (and HEAD) /r/{code}, no auth, a browser route."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.common import AnyQuery
from chalicelib.composition import container
from chalicelib.domain.links import Visit
from chalicelib.observability import Metric, count
from chalicelib.services import links

bp = Blueprint(__name__)

_NOT_FOUND_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Link not found</title></head>'
    "<body><h1>Link not found</h1><p>This link is not valid or has expired.</p></body></html>"
)
# A redirect is per click: caches and proxies must ask again, or clicks would go uncounted.
_NO_STORE = "no-store"


def _follow(call: Call, code: str, method: str) -> Response:
    user_agent = bp.current_request.headers.get("user-agent")
    redirect = links.follow(call.ports, code, Visit.of(method, user_agent))
    if redirect is None:
        return Response(
            body=_NOT_FOUND_PAGE,
            status_code=404,
            headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": _NO_STORE},
        )
    if redirect.counted:
        count(container().settings.resource_prefix, {Metric.CLICKS: 1})
    return Response(body="", status_code=302, headers={"Location": redirect.location, "Cache-Control": _NO_STORE})


@endpoint(bp, "/r/{code}", ["GET"], auth=False, status=302, errors=(404,), page=True)
def follow_link(call: Call, query: AnyQuery, code: str) -> Response:
    """Go to a tracked link's target (with UTM) and count the click; unknown codes get a 404 page."""
    return _follow(call, code, "GET")


@endpoint(bp, "/r/{code}", ["HEAD"], auth=False, status=302, errors=(404,), page=True)
def check_link(call: Call, query: AnyQuery, code: str) -> Response:
    """Where a tracked link goes, without counting a click."""
    return _follow(call, code, "HEAD")

"""The merchant dashboard: GET / and its static files, no auth (the page signs in through the API itself)."""

from __future__ import annotations

import html
import os
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from chalice import Blueprint, Response

from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.common import AnyQuery
from chalicelib.composition import container

bp = Blueprint(__name__)

# Under chalicelib/ because Chalice packages that folder (and app.py, vendor/) into the Lambda and nothing else.
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
# The only files served, each with its type: a name not listed is a 404, so no path can reach anything else.
ASSETS: dict[str, str] = {
    "app.css": "text/css; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "main.js": "text/javascript; charset=utf-8",
    "ui.js": "text/javascript; charset=utf-8",
    "campaigns.js": "text/javascript; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
    "subscribers.js": "text/javascript; charset=utf-8",
    "settings.js": "text/javascript; charset=utf-8",
    "devstack.js": "text/javascript; charset=utf-8",
    "signup.js": "text/javascript; charset=utf-8",  # the storefront sign-up form stores embed (not the dashboard's)
    "favicon.svg": "image/svg+xml",
}
HTML = "text/html; charset=utf-8"
_MEDIA_TYPES = tuple(sorted({content_type.split(";")[0] for content_type in ASSETS.values()}))
APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
# Only this origin; App Bridge's one script when opened inside the Shopify admin, which also frames the page.
CSP = (
    f"default-src 'self'; script-src 'self' {APP_BRIDGE}; "
    "style-src 'self'; img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self' https://admin.shopify.com https://*.myshopify.com"
)
# no-cache: the browser revalidates every time, so a deploy is seen at once (the files are small).
_HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


def upload_origins(bucket: str, region: str, endpoint: str | None) -> list[str]:
    """Where the dashboard posts a CSV import (the exports bucket's presigned form): devstack's S3 endpoint, or the
    bucket's global and regional S3 hosts. The only origins besides 'self' the page may connect to."""
    if endpoint:
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}"]
    return [f"https://{bucket}.s3.amazonaws.com", f"https://{bucket}.s3.{region}.amazonaws.com"]


def _dashboard_csp() -> str:
    settings = container().settings
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    origins = " ".join(upload_origins(settings.exports_bucket, settings.region, endpoint))
    return CSP.replace("connect-src 'self';", f"connect-src 'self' {origins};")
_NOT_FOUND = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>'
    "<body><h1>Not found</h1></body></html>"
)


@cache
def _read(name: str) -> str:
    return (WEB_ROOT / name).read_text(encoding="utf-8")


def _page(body: str, content_type: str, status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={**_HEADERS, "Content-Type": content_type})


@endpoint(bp, "/", ["GET"], auth=False, page=True, media_types=("text/html",))
def dashboard(call: Call, query: AnyQuery) -> Response:
    """The merchant dashboard (Campaigns, Inbox, Subscribers, Settings)."""
    # App Bridge reads the app's client id from this meta tag; empty outside a Shopify-configured deployment.
    client_id = html.escape(container().settings.shopify_api_key or "", quote=True)
    params = dict(bp.current_request.query_params or {})
    # Inside the Shopify admin (?shop=&host=) App Bridge must be the first script of <head>, loaded synchronously,
    # before the module scripts run; anywhere else it is not loaded at all (no request leaves the origin).
    bridge = f'<script src="{APP_BRIDGE}"></script>' if params.get("shop") and params.get("host") else ""
    page = _page(_read("index.html").replace("{{SHOPIFY_API_KEY}}", client_id).replace("{{APP_BRIDGE}}", bridge), HTML)
    page.headers["Content-Security-Policy"] = _dashboard_csp()
    return page


@endpoint(bp, "/static/{name}", ["GET"], auth=False, page=True, errors=(404,), media_types=_MEDIA_TYPES)
def dashboard_file(call: Call, query: AnyQuery, name: str) -> Response:
    """One of the dashboard's own scripts, styles or icons; any other name is a 404."""
    content_type = ASSETS.get(name)
    if content_type is None:
        return _page(_NOT_FOUND, HTML, 404)
    return _page(_read(name), content_type)

"""Serve the Chalice app in-process with chalice.local, one request at a time."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer


class SerializedRequestHandler(ChaliceRequestHandler):
    """Runs each request through the app while holding a lock shared with the pumps.

    Chalice keeps per-invocation state on the app instance (``current_request``, ``lambda_context``;
    chalice.local only makes the first one thread-local) and our container builds clients lazily, so two
    requests at once could read each other's request or race a half-built client. A real Lambda
    environment handles one event at a time, and serialising matches that. The server itself stays
    threaded so a browser's idle keep-alive connection cannot block everyone else.
    """

    def __init__(self, *args: Any, invocation_lock: threading.Lock, **kwargs: Any) -> None:
        self._invocation_lock = invocation_lock
        super().__init__(*args, **kwargs)

    def _generic_handle(self) -> None:
        with self._invocation_lock:
            super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, made-up ones) goes to the app's router too, which answers 405 on a
        # known path and 403 elsewhere as API Gateway does, not http.server's 501 HTML page.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _send_http_response_with_body(self, code: int, headers: dict[str, Any], body: str | bytes) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        # An answer to HEAD has headers only (API Gateway drops the body): bytes after them would be read by a
        # keep-alive client as the start of its next response.
        self.send_response(code)
        self.send_header("Content-Length", str(len(body.encode("utf-8") if isinstance(body, str) else body)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)

    def log_message(self, format: str, *args: Any) -> None:
        """Quieter than the default: one line per request, no timestamp noise."""
        print(f"http {self.address_string()} {format % args}", flush=True)


class _ReusableThreadedHTTPServer(ThreadedHTTPServer):
    """Allow a quick restart on the same port (TIME_WAIT)."""

    allow_reuse_address = True


def build_server(app: Chalice, host: str, port: int, invocation_lock: threading.Lock, project_dir: str) -> LocalDevServer:
    """A LocalDevServer for ``app`` whose requests take ``invocation_lock``."""
    config = Config.create(chalice_stage="dev", app_name=app.app_name, chalice_app=app, project_dir=project_dir)
    handler = partial(SerializedRequestHandler, invocation_lock=invocation_lock)
    return LocalDevServer(app, config, host, port, handler_cls=handler, server_cls=_ReusableThreadedHTTPServer)

"""devstack's HTTP server answers as API Gateway would on the wire: found by the API fuzz test
(tests/e2e/test_devstack_api_fuzz.py), where a HEAD's body broke the next response and TRACE got a 501."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest
from chalice import Chalice, Response

from devstack.moto_server import free_port
from devstack.serving import build_server


@pytest.fixture
def server() -> Iterator[int]:
    app = Chalice(app_name="serving-test")

    @app.route("/r/{code}", methods=["GET", "HEAD"])
    def link(code: str) -> Response:
        return Response(body="<h1>Link not found</h1>", status_code=404, headers={"Content-Type": "text/html"})

    port = free_port()
    local = build_server(app, "127.0.0.1", port, threading.Lock(), ".")
    thread = threading.Thread(target=local.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        local.shutdown()
        local.server.server_close()
        thread.join(timeout=5)


def test_head_answer_has_no_body_and_the_connection_stays_usable(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    connection.request("HEAD", "/r/nope")
    head = connection.getresponse()
    assert head.status == 404
    assert head.read() == b""
    assert head.getheader("Content-Length") == str(len(b"<h1>Link not found</h1>"))
    connection.request("GET", "/r/nope")  # same connection: nothing left over from the HEAD
    get = connection.getresponse()
    assert (get.status, get.read()) == (404, b"<h1>Link not found</h1>")
    connection.close()


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_unknown_method_is_refused_as_api_gateway_does_not_with_a_501(server: int, method: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    connection.request(method, "/r/nope")
    response = connection.getresponse()
    response.read()
    assert response.status == 405
    connection.request(method, "/elsewhere")
    response = connection.getresponse()
    response.read()
    assert response.status == 403
    connection.close()

"""The media library over S3: a merchant's https image becomes an object End User Messaging can send.

``S3MediaLibrary`` checks the link (``domain.media``), downloads it through a ``Fetcher``, checks the bytes
are a GIF, JPEG or PNG by magic number, and stores them under ``<shop_id>/<sha256>.<ext>`` with a
create-only write, so the same image imported twice is stored once. ``HttpsFetcher`` is the real download:
it resolves the host itself, refuses names that resolve to loopback/private/link-local addresses, connects
to the address it checked (no second lookup a DNS rebinding could change), verifies TLS for the host name,
follows at most a few redirects (each one checked like the first link) and stops reading at the size cap.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain import media
from chalicelib.domain.errors import InvalidInput, TransientError
from chalicelib.domain.media import MediaUrl, StoredMedia

_HTTPS_PORT = 443
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# A create-only put (If-None-Match: *) meets an existing object with 412, or 409 while another put of the
# same key is in flight; either way the same bytes are (being) stored under that content address.
_ALREADY_STORED = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


@dataclass(frozen=True)
class Download:
    """The bytes a link served, and the content type it claimed (informative only: the bytes decide)."""

    data: bytes
    content_type: str | None = None


class Fetcher(Protocol):
    """Downloads one checked link."""

    def fetch(self, url: MediaUrl, *, max_bytes: int) -> Download:
        """The body, at most ``max_bytes`` long; InvalidInput ``media_too_large``, ``media_unreachable`` or
        ``invalid_media_url`` (a redirect or an address the rules refuse)."""
        ...


class S3MediaLibrary:
    """``MediaLibrary`` on the deployment's media bucket."""

    # The client is typed Any: the S3 stubs (mypy-boto3-s3) are not among the dev requirements.
    def __init__(self, s3_client: Any, bucket: str, fetcher: Fetcher) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._fetcher = fetcher

    def import_image(self, shop_id: str, url: str) -> StoredMedia:
        """Check, download, verify and store the image; the same bytes map to the same object."""
        link = media.validate_media_url(url)
        download = self._fetcher.fetch(link, max_bytes=media.MAX_MEDIA_BYTES)
        kind = media.check_image(download.data, link.url)  # the cap again: a fetcher must not be trusted with it
        key = media.media_key(shop_id, download.data, kind)
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=download.data,
                ContentType=kind.content_type,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _ALREADY_STORED:
                raise TransientError("the media library is unavailable; try again", details={"bucket": self._bucket}) from exc
        except BotoCoreError as exc:
            raise TransientError("the media library is unavailable; try again", details={"bucket": self._bucket}) from exc
        return StoredMedia(
            source_url=link.url,
            s3_uri=f"s3://{self._bucket}/{key}",
            content_type=kind.content_type,
            size=len(download.data),
        )


class _Connection(Protocol):
    """The part of http.client.HTTPSConnection the fetcher uses (tests pass a fake)."""

    def request(self, method: str, url: str, body: None = None, headers: dict[str, str] = ...) -> None: ...

    def getresponse(self) -> http.client.HTTPResponse: ...

    def close(self) -> None: ...


Resolver = Callable[[str], list[str]]
Connector = Callable[[str, str, float], _Connection]


def resolve_host(host: str) -> list[str]:
    """Every address the host name resolves to for https."""
    infos = socket.getaddrinfo(host, _HTTPS_PORT, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a host name, over a socket to an address checked beforehand (SNI and certificate: the name)."""

    def __init__(self, host: str, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, _HTTPS_PORT, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, _HTTPS_PORT), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def connect_pinned(host: str, address: str, timeout: float) -> _Connection:
    """A verified-TLS connection to ``host`` that can only reach ``address``."""
    return _PinnedHTTPSConnection(host, address, timeout, ssl.create_default_context())


class HttpsFetcher:
    """Downloads over https with the SSRF guard, a size cap, a per-read timeout and an overall deadline."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        total_timeout: float = 15.0,
        max_redirects: int = 3,
        resolve: Resolver = resolve_host,
        connect: Connector = connect_pinned,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._total = total_timeout
        self._max_redirects = max_redirects
        self._resolve = resolve
        self._connect = connect
        self._monotonic = monotonic

    def fetch(self, url: MediaUrl, *, max_bytes: int) -> Download:
        """GET the link, following redirects only to links that pass the same rules."""
        deadline = self._monotonic() + self._total
        link = url
        for _ in range(self._max_redirects + 1):
            address = self._public_address(link, url)
            connection = self._connect(link.host, address, self._timeout)
            try:
                return self._get(connection, link, url, max_bytes, deadline)
            except _Redirect as redirect:
                link = redirect.to
            except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError and timeouts are OSErrors
                raise media.unreachable(url.url, type(exc).__name__) from exc
            finally:
                connection.close()
        raise media.unreachable(url.url, f"more than {self._max_redirects} redirects")

    def _public_address(self, link: MediaUrl, original: MediaUrl) -> str:
        try:
            addresses = self._resolve(link.host)
        except (OSError, UnicodeError) as exc:
            raise media.unreachable(original.url, f"cannot resolve {link.host}") from exc
        if not addresses:
            raise media.unreachable(original.url, f"cannot resolve {link.host}")
        # One inside address is enough to refuse: a client may pick any of them, and so might a retry.
        inside = [a for a in addresses if not media.is_public_address(a)]
        if inside:
            raise InvalidInput(
                f"media_url's host {link.host} resolves to a private or reserved address",
                code=media.INVALID_URL,
                details={"media_url": original.url[:200]},
            )
        return addresses[0]

    def _get(self, connection: _Connection, link: MediaUrl, original: MediaUrl, max_bytes: int, deadline: float) -> Download:
        headers = {
            "Host": link.host,
            "Accept": "image/gif, image/jpeg, image/png",
            "Accept-Encoding": "identity",  # the cap counts the bytes we keep, so no compressed bodies
            "User-Agent": "smscast-media/1",
        }
        connection.request("GET", link.target, headers=headers)
        response = connection.getresponse()
        if response.status in _REDIRECTS:
            location = response.getheader("Location")
            if not location:
                raise media.unreachable(original.url, f"HTTP {response.status} without a Location")
            try:
                target = media.validate_media_url(urljoin(link.url, location))
            except (InvalidInput, ValueError) as exc:  # ValueError: urljoin could not even parse it
                reason = exc.message if isinstance(exc, InvalidInput) else "not a well-formed link"
                raise InvalidInput(
                    f"media_url redirects to a link that is not allowed: {reason}",
                    code=media.INVALID_URL,
                    details={"media_url": original.url[:200]},
                ) from exc
            raise _Redirect(target)
        if response.status != 200:
            raise media.unreachable(original.url, f"HTTP {response.status}")
        declared = response.getheader("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise media.too_large(original.url)
        body = bytearray()
        while True:
            if self._monotonic() > deadline:
                raise media.unreachable(original.url, "download took too long")
            chunk = response.read(min(_CHUNK, max_bytes + 1 - len(body)))
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:  # the declared length may lie or be absent (chunked)
                raise media.too_large(original.url)
        return Download(bytes(body), response.getheader("Content-Type"))


class _Redirect(Exception):
    """A checked redirect target (internal control flow of HttpsFetcher.fetch)."""

    def __init__(self, to: MediaUrl) -> None:
        super().__init__(to.url)
        self.to = to

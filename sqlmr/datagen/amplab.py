"""Deterministic, parallel generator of the Amplab Big Data Benchmark text tables.

Writes ``rankings`` (pageURL,pageRank,avgDuration) and ``uservisits`` (sourceIP,destURL,visitDate,
adRevenue,userAgent,countryCode,languageCode,searchWord,duration) in the published text format:
headerless, comma-delimited, unquoted, '\\n'-terminated rows.

Speed comes from never formatting a row in Python: every field is either a take from a small
pre-formatted Arrow string dictionary (which already carries its delimiters) or an Arrow cast, and
one ``binary_join_element_wise`` with an empty separator produces the file bytes of a whole chunk.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlmr_runtime import compute as pc

from sqlmr.datagen import dictionaries as dic
from sqlmr.errors import UsageError

SCALES: dict[str, tuple[int, int]] = {
    "tiny": (1_200, 10_000),
    "1node": (18_000_000, 155_000_000),
    "5nodes": (90_000_000, 775_000_000),
}

TABLES = ("rankings", "uservisits")
# Rough text bytes per row, only used to decide how many parts a table gets.
_BYTES_PER_ROW = {"rankings": 70, "uservisits": 170}
# Rows generated and appended per step: bounds a worker to ~200 MiB RSS whatever the scale.
_CHUNK_ROWS = 1 << 16
_POOL_MIN_BYTES = 64 * 2**20
_URL_STREAM = 1_000  # SeedSequence key of the per-seed URL material, distinct from table ids
_SUFFIXES = 1 << 18  # random URL tails to pick from; the unique part is the code prefix
_MIN_CODE = 6  # 26**6 > 90M rankings rows of 5nodes
_MAX_CODE = 7  # keeps the affine permutation's products below 2**63
_DAYS = int((np.datetime64("2012-05-01") - np.datetime64("1970-01-01")).astype(int)) + 1
# Java's Float.toString (which wrote the published adRevenue) switches to 'd.dddE-n' below 1e-3;
# with 24-bit floats that is only k < 16778 of k / 2**24, small enough for a lookup table.
_SMALL_REVENUE_K = 16_800


def scale_rows(scale: str | float) -> tuple[int, int]:
    """Return (rankings_rows, uservisits_rows) for a named scale or a fraction of '1node'.

    Accepts 'tiny', '1node', '5nodes', or a positive number (or number string such as '0.05')
    meaning that fraction of the 1node row counts. Raises UsageError for anything else.
    """
    if isinstance(scale, str) and scale in SCALES:
        return SCALES[scale]
    hint = "expected 'tiny', '1node', '5nodes' or a positive fraction of 1node such as '0.05'"
    if isinstance(scale, bool):
        raise UsageError(f"invalid scale {scale!r}: {hint}")
    try:
        frac = float(scale)
    except (TypeError, ValueError):
        raise UsageError(f"invalid scale {scale!r}: {hint}") from None
    if not math.isfinite(frac) or frac <= 0:
        raise UsageError(f"invalid scale {scale!r}: {hint}")
    one_r, one_u = SCALES["1node"]
    rows = (round(one_r * frac), round(one_u * frac))
    if min(rows) < 1:
        raise UsageError(f"scale {scale!r} is too small: it gives no rankings rows")
    return rows


@dataclass(frozen=True)
class GenStats:
    """What generate() wrote."""

    rankings_rows: int
    uservisits_rows: int
    bytes_written: int
    seconds: float
    files: list[str]


def sample_page_ranks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n pageRank values (int32) reproducing the published Amplab selectivities.

    The published pageRank is the in-link count of a Zipfian link graph. A log-normal body
    (median 22, sigma 0.26) plus a Pareto tail (alpha 1.95) matches both the 5nodes result sizes
    (> 10: 99.97%, > 100: 3.70%, > 1000: 0.0365% of rows) and the quantiles of the real tiny
    table (median 29, 1st/99th percentiles 16/177).
    """
    body = 22.0 * np.exp(0.26 * rng.standard_normal(n))
    tail = 17.6 * ((1.0 - rng.random(n)) ** (-1.0 / 1.95) - 1.0)
    return np.minimum(body + tail, 1e9).astype(np.int32)


def _string_array(values: list[str]) -> pa.Array:
    return pa.array(values, type=pa.string())


def _cdf(weights: list[float]) -> np.ndarray:
    cdf = np.cumsum(weights) / np.sum(weights)
    cdf[-1] = 1.0  # so searchsorted of any random() in [0, 1) stays in range
    return cdf


@lru_cache(maxsize=1)
def _static_dicts() -> dict[str, pa.Array | np.ndarray]:
    """Seed-independent dictionaries, pre-formatted with their delimiters (built once a process)."""
    octet = [str(i) for i in range(256)]
    days = np.datetime_as_string(np.arange(_DAYS) + np.datetime64("1970-01-01", "D"))
    small = ["0.0"]  # Java prints zero as "0.0"
    for k in range(1, _SMALL_REVENUE_K):
        v = np.float32(k * 2.0**-24)
        plain = np.format_float_positional(v, unique=True, trim="0")
        if v >= np.float32(1e-3) and float(plain) >= 1e-3:
            small.append(plain)
            continue
        mant, exp = np.format_float_scientific(v, unique=True, trim="0").split("e")
        small.append(f"{mant}E{int(exp)}")
    ua_w = [w for w, _ in dic.NAMED_USER_AGENTS]
    ua_w += [dic.RANDOM_USER_AGENTS_WEIGHT / len(dic.RANDOM_USER_AGENTS)] * len(
        dic.RANDOM_USER_AGENTS
    )
    agents = [a for _, a in dic.NAMED_USER_AGENTS] + list(dic.RANDOM_USER_AGENTS)
    cl_w = [w for _, _, w in dic.COUNTRY_LANGUAGES]
    return {
        # sourceIP as "a.b." + "c.d," with a, d in 1..254 and b, c in 0..254
        "ip_hi": _string_array([f"{a}.{b}." for a in octet[1:255] for b in octet[:255]]),
        "ip_lo": _string_array([f"{c}.{d}," for c in octet[:255] for d in octet[1:255]]),
        "date": _string_array([f"{d}," for d in days]),
        "small_revenue": _string_array(small),
        "agent": _string_array([f",{a}," for a in agents]),
        "agent_cdf": _cdf(ua_w),
        "country": _string_array([f"{c},{lang}," for c, lang, _ in dic.COUNTRY_LANGUAGES]),
        "country_cdf": _cdf(cl_w),
        "word": _string_array([f"{w}," for w in dic.SEARCH_WORDS]),
        "duration": _string_array([f"{d}\n" for d in range(1, 11)]),
        "avg_duration": _string_array([f",{d}\n" for d in range(1, 100)]),
    }


@dataclass(frozen=True)
class _UrlSpace:
    """How pageURL i is computed from (seed, i) alone, so visits can join without a lookup.

    URL i = code(i) + suffix[hash(i)]: code is ``width`` letters spelling (a*i + b) mod 26**width
    in base 26 — a bijection, which makes every URL unique — and the random tail comes from a
    per-seed pool whose lengths make the whole URL uniform in 10..100 letters, as published.
    """

    width: int
    mul: int
    add: int
    key: int
    suffixes: pa.Array  # each ends with ','


def _code_width(n_rankings: int) -> int:
    width = _MIN_CODE
    while 26**width < n_rankings:
        width += 1
    if width > _MAX_CODE:
        raise UsageError(
            f"scale too large: {n_rankings:,} rankings rows exceed the supported {26**_MAX_CODE:,}"
        )
    return width


@lru_cache(maxsize=4)
def _url_space(seed: int, n_rankings: int) -> _UrlSpace:
    width = _code_width(n_rankings)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _URL_STREAM])))
    mul = int(rng.integers(1 << 29, 1 << 30))
    while mul % 2 == 0 or mul % 13 == 0:  # coprime to 26, so the affine map is a bijection
        mul += 1
    add = int(rng.integers(0, 26**width))
    key = int(rng.integers(0, 2**63))
    lengths = rng.integers(10 - width, 101 - width, _SUFFIXES)
    ends = np.cumsum(lengths + 1)
    data = rng.integers(ord("a"), ord("z") + 1, int(ends[-1]), dtype=np.uint8)
    data[ends - 1] = ord(",")
    offsets = np.concatenate([[0], ends]).astype(np.int32)
    suffixes = pa.StringArray.from_buffers(_SUFFIXES, pa.py_buffer(offsets), pa.py_buffer(data))
    return _UrlSpace(width, mul, add, key, suffixes)


def _url_fields(space: _UrlSpace, idx: np.ndarray) -> list[pa.Array]:
    """The code and 'tail,' string arrays whose concatenation is pageURL idx followed by ','."""
    n = len(idx)
    i = idx.astype(np.uint64)
    p = (i * np.uint64(space.mul) + np.uint64(space.add)) % np.uint64(26**space.width)
    code = np.empty((n, space.width), dtype=np.uint8)
    for j in range(space.width - 1, -1, -1):
        code[:, j] = (p % np.uint64(26)).astype(np.uint8) + ord("a")
        p //= np.uint64(26)
    offsets = np.arange(0, space.width * n + 1, space.width, dtype=np.int32)
    codes = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(code))
    # splitmix64 finaliser: a counter-based hash, so the tail of URL i needs no RNG state
    z = i ^ np.uint64(space.key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    tails = pc.take(space.suffixes, pa.array(z & np.uint64(_SUFFIXES - 1)))
    return [codes, tails]


def _take(dictionary: pa.Array, idx: np.ndarray) -> pa.Array:
    return pc.take(dictionary, pa.array(idx))


def _rankings_chunk(
    rng: np.random.Generator, space: _UrlSpace, start: int, n: int
) -> list[pa.Array]:
    d = _static_dicts()
    ranks = pc.cast(pa.array(sample_page_ranks(rng, n)), pa.string())
    avg = _take(d["avg_duration"], rng.integers(0, 99, n, dtype=np.int32))
    return [*_url_fields(space, np.arange(start, start + n, dtype=np.int64)), ranks, avg]


def _uservisits_chunk(
    rng: np.random.Generator, space: _UrlSpace, n_rankings: int, n: int
) -> list[pa.Array]:
    d = _static_dicts()
    ip_hi = _take(d["ip_hi"], rng.integers(0, len(d["ip_hi"]), n, dtype=np.int32))
    ip_lo = _take(d["ip_lo"], rng.integers(0, len(d["ip_lo"]), n, dtype=np.int32))
    url = _url_fields(space, rng.integers(0, n_rankings, n, dtype=np.int64))
    date = _take(d["date"], rng.integers(0, _DAYS, n, dtype=np.int32))
    # Java's nextFloat(): 24 random bits / 2**24, exactly representable as float32
    k = rng.integers(0, 1 << 24, n, dtype=np.int32)
    revenue = pc.cast(pa.array((k * 2.0**-24).astype(np.float32)), pa.string())
    small = k < _SMALL_REVENUE_K
    if small.any():
        java = _take(d["small_revenue"], np.minimum(k, _SMALL_REVENUE_K - 1))
        revenue = pc.if_else(pa.array(small), java, revenue)
    agent = _take(d["agent"], np.searchsorted(d["agent_cdf"], rng.random(n), side="right"))
    country = _take(d["country"], np.searchsorted(d["country_cdf"], rng.random(n), side="right"))
    word = _take(d["word"], rng.integers(0, len(d["word"]), n, dtype=np.int32))
    duration = _take(d["duration"], rng.integers(0, 10, n, dtype=np.int32))
    return [ip_hi, ip_lo, *url, date, revenue, agent, country, word, duration]


@dataclass(frozen=True)
class _Task:
    path: str
    table: str
    part: int
    start: int
    stop: int
    seed: int
    n_rankings: int


def _write_part(task: _Task) -> tuple[str, int]:
    """Write one part to a hidden temp file, then rename it into place; return (path, bytes)."""
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([task.seed, TABLES.index(task.table), task.part]))
    )
    space = _url_space(task.seed, task.n_rankings)
    final = Path(task.path)
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    written = 0
    try:
        with open(tmp, "wb") as f:
            for c0 in range(task.start, task.stop, _CHUNK_ROWS):
                n = min(_CHUNK_ROWS, task.stop - c0)
                if task.table == "rankings":
                    fields = _rankings_chunk(rng, space, c0, n)
                else:
                    fields = _uservisits_chunk(rng, space, task.n_rankings, n)
                rows = pc.binary_join_element_wise(*fields, "")
                offsets = np.frombuffer(rows.buffers()[1], np.int32, n + 1, rows.offset * 4)
                data = memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]
                written += f.write(data)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return str(final), written


def _plan(
    out: Path, seed: int, rows: tuple[int, int], part_bytes: int
) -> tuple[list[_Task], dict[str, int]]:
    tasks, counts = [], {}
    for table, n in zip(TABLES, rows, strict=True):
        parts = max(1, math.ceil(n * _BYTES_PER_ROW[table] / part_bytes))
        counts[table] = parts
        for p in range(parts):
            path = str(out / table / f"part-{p:05d}")
            tasks.append(_Task(path, table, p, p * n // parts, (p + 1) * n // parts, seed, rows[0]))
    return tasks, counts


def _clear_stale(directory: Path, parts: int) -> None:
    """Drop leftovers of an earlier run: temp files, and parts beyond the new part count."""
    for entry in directory.iterdir():
        m = re.fullmatch(r"part-(\d{5})", entry.name)
        if (m and int(m.group(1)) >= parts) or re.fullmatch(r"\.part-\d{5}\.tmp\d+", entry.name):
            entry.unlink()


def generate(
    out_dir: str | Path,
    scale: str | float = "tiny",
    seed: int = 0,
    workers: int | None = None,
    part_bytes: int = 128 * 2**20,
    progress: Callable[[int, int], None] | None = None,
) -> GenStats:
    """Write out_dir/rankings/part-NNNNN and out_dir/uservisits/part-NNNNN for a scale.

    Each part is at most ~part_bytes and its bytes depend only on (seed, scale, part_bytes, table,
    part index), never on ``workers`` (default: os.cpu_count()). Parts are written in parallel by
    a forked process pool (in-process when workers == 1 or the data is under ~64 MiB), each to
    a temp name renamed into place when complete; stale parts of an earlier run in out_dir are
    removed. ``progress(done_parts, total_parts)`` is called in this process as parts finish.
    """
    t0 = time.perf_counter()
    rows = scale_rows(scale)
    if not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a non-negative int, not {seed!r}")
    if part_bytes <= 0:
        raise UsageError(f"part_bytes must be positive, not {part_bytes!r}")
    _code_width(rows[0])  # fail on an unsupported scale before touching any file
    out = Path(out_dir)
    tasks, counts = _plan(out, seed, rows, part_bytes)
    for table in TABLES:
        (out / table).mkdir(parents=True, exist_ok=True)
        _clear_stale(out / table, counts[table])
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    estimate = sum(n * _BYTES_PER_ROW[t] for t, n in zip(TABLES, rows, strict=True))
    if estimate < _POOL_MIN_BYTES:
        workers = 1  # starting a pool costs more than writing this much in-process
    # biggest parts first, so the pool does not end waiting on one large straggler
    tasks.sort(key=lambda t: -(t.stop - t.start) * _BYTES_PER_ROW[t.table])
    total, done, written = len(tasks), 0, 0
    if progress:
        progress(0, total)
    if workers == 1:
        results = map(_write_part, tasks)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers, mp_context=get_context("fork"))
        results = (f.result() for f in as_completed([pool.submit(_write_part, t) for t in tasks]))
    try:
        for _, nbytes in results:
            done += 1
            written += nbytes
            if progress:
                progress(done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    files = sorted(t.path for t in tasks)
    return GenStats(rows[0], rows[1], written, time.perf_counter() - t0, files)

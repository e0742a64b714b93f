"""Hash partitioning of rows by key columns, with pyarrow kernels and numpy.

Arrow exposes no row hash, so one is built from vectorized kernels. The hash of a key depends only
on its value, never on the batch it travels in, which is what lets map tasks agree on partitions:
- integers, dates and timestamps hash their value as a 64-bit integer (so an INT 5 and a BIGINT 5
  agree); floats hash their bits after -0.0 becomes 0.0 and every NaN one NaN (DuckDB groups
  them so); decimals hash their nearest double (equal values, whatever the scale, agree);
- a string is cut into 8-byte little-endian words, the last one padded with zero bytes; word k
  adds mix(word * K_k) with an odd constant K_k per position, and the byte length is added once.
  A zero word adds zero, so padding every value of a batch to a common width (which makes the
  words a fixed-size table that kernels can read column by column) cannot change any value's
  hash, whatever the batch's longest value: the width is chosen for speed only.
NULL keys form one group, so they all hash alike.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import compute as pc
from .errors import EvaluationError


def load_numpy_masked() -> None:
    """Load numpy.ma, which numpy 2 loads lazily (5-10 ms) on the first pa.array of a numpy
    array (row_hash here; a take by numpy positions). A local pool's driver calls this before
    it forks workers for tasks that hash, group or join (sqlmr.execution.local), so that each
    fresh worker does not load it in its first such task (Amplab 3a's broadcast join tasks,
    both on the job's critical path). Tasks that only filter and project a scan (Amplab 1a-1c)
    never load it: their driver does not either."""
    import numpy.ma  # noqa: F401


_U64 = pa.uint64()
_M64 = (1 << 64) - 1
_P = 0x100000001B3  # FNV-1a 64-bit prime: combines the hashes of several key columns
_GOLDEN = 0x9E3779B97F4A7C15  # odd: (2k + 1) * _GOLDEN is a distinct odd multiplier per word k
MIX1 = 0xFF51AFD7ED558CCD  # murmur3's 64-bit finalizer (mix)
MIX2 = 0xC4CEB9FE1A85EC53
_NAN_BITS = 0x7FF8000000000000
_MIX1_U64, _MIX2_U64, _P_U64 = np.uint64(MIX1), np.uint64(MIX2), np.uint64(_P)
_SHIFT = np.uint64(33)
_MIX1_INV, _MIX2_INV = (np.uint64(pow(c, -1, 1 << 64)) for c in (MIX1, MIX2))
# The first pass pads every value to the batch's longest, up to this many times the mean length
# (at least 64 bytes); longer values' remaining bytes are hashed in further passes over them only.
_PAD_FACTOR = 4
_BLOCK_ROWS = 8192  # rows per numpy pass of _words_sum: its products fit in a core's cache


def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value & _M64, _U64)


def mix(h: np.ndarray) -> np.ndarray:
    """The murmur3 64-bit finalizer of every value (a new array): spreads every input bit over
    the output. uint64 arithmetic wraps as the hash wants."""
    x = h.copy()
    scratch = np.empty(min(len(x), _BLOCK_ROWS), np.uint64)  # in cache, and no second copy
    for first in range(0, len(x), _BLOCK_ROWS):
        block = x[first : first + _BLOCK_ROWS]
        _mix_in_place(block, scratch[: len(block)])
    return x


def unmix(h: np.ndarray) -> np.ndarray:
    """The inverse of mix (a new array): x ^ (x >> 33) is its own inverse on 64 bits, and the
    odd multipliers have inverses modulo 2**64."""
    h = h ^ (h >> _SHIFT)
    h = h * _MIX2_INV
    h = h ^ (h >> _SHIFT)
    h = h * _MIX1_INV
    return h ^ (h >> _SHIFT)


def _mix_in_place(x: np.ndarray, scratch: np.ndarray) -> None:
    np.right_shift(x, _SHIFT, out=scratch)
    x ^= scratch
    x *= _MIX1_U64
    np.right_shift(x, _SHIFT, out=scratch)
    x ^= scratch
    x *= _MIX2_U64
    np.right_shift(x, _SHIFT, out=scratch)
    x ^= scratch


def _words_sum(piece: pa.Array, first_word: int) -> np.ndarray:
    """Per value of a binary array without nulls: the sum over its 8-byte words of the word's
    mixed product with its position's constant (positions counted from first_word)."""
    n = len(piece)
    width = ((pc.max(pc.binary_length(piece)).as_py() or 0) + 7) & ~7
    if width == 0:
        return np.zeros(n, np.uint64)
    # Pad with zero bytes to `width`: the data buffer is then n rows of width // 8 words each.
    text = pa.large_string() if pa.types.is_large_binary(piece.type) else pa.string()
    padded = pc.ascii_rpad(piece.view(text), width=width, padding="\x00")
    per_row = width // 8
    words = np.frombuffer(padded.buffers()[2], np.uint64, n * per_row).reshape(n, per_row)
    return sum_words(words, first_word)


def sum_words(words: np.ndarray, first_word: int = 0, into: np.ndarray | None = None) -> np.ndarray:
    """Per row of `words` (n rows of a value's zero-padded 8-byte words): the sum over its words
    of the word's mixed product with its position's constant (positions from first_word),
    added to `into` (returned) when given."""
    n, per_row = words.shape
    constants = np.array(
        [((2 * (first_word + k) + 1) * _GOLDEN) & _M64 for k in range(per_row)], np.uint64
    )
    # numpy, a block of rows at a time so that the products stay in cache while a row's words
    # are summed column by column (a sum along rows is slow for a few words; Arrow's running sum
    # and take, used before numpy shipped on Lambda, took 30% more CPU on Amplab's URLs and IPs).
    # uint64 arithmetic wraps as the hash wants.
    sums = np.zeros(n, np.uint64) if into is None else into
    block = np.empty((min(n, _BLOCK_ROWS), per_row), np.uint64)
    shifted = np.empty_like(block)
    for first in range(0, n, _BLOCK_ROWS):
        rows = words[first : first + _BLOCK_ROWS]
        x, y, out = block[: len(rows)], shifted[: len(rows)], sums[first : first + len(rows)]
        np.multiply(rows, constants, out=x)
        np.right_shift(x, np.uint64(29), out=y)
        x ^= y  # the sum is not linear in the words
        for k in range(per_row):
            out += x[:, k]
    return sums


def padded_string_hash(words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The column hash of strings given as their zero-padded words (n rows of 8-byte words,
    NULLs as zero words) and byte lengths (NULLs 0): equal to _string_hash of the strings."""
    h = lengths.astype(np.uint64)
    h *= _MIX2_U64
    return sum_words(words, into=h)


def _string_hash(arr: pa.Array) -> np.ndarray:
    if pa.types.is_string(arr.type):
        arr = arr.view(pa.binary())
    elif pa.types.is_large_string(arr.type):
        arr = arr.view(pa.large_binary())
    arr = pc.fill_null(arr, b"")
    lengths = pc.binary_length(arr).to_numpy().astype(np.int64)
    h = lengths.astype(np.uint64) * _MIX2_U64
    longest = int(lengths.max()) if len(lengths) else 0
    mean = float(lengths.mean()) if len(lengths) else 0.0
    start = max(64, min(longest, int(_PAD_FACTOR * mean)) + 7) & ~7
    first = arr if longest <= start else pc.binary_slice(arr, 0, start)
    h += _words_sum(first, 0)
    while start < longest:
        # Only the longer values take part, and the width doubles each pass: the padded copies
        # add up to at most twice the bytes of those values.
        longer = np.flatnonzero(lengths > start)
        piece = pc.binary_slice(pc.take(arr, pa.array(longer)), start, 2 * start)
        h[longer] += _words_sum(piece, start // 8)
        start *= 2
    return h


def _float_bits(arr: pa.Array) -> pa.Array:
    values = pc.add(pc.cast(arr, pa.float64()), 0.0)  # -0.0 + 0.0 is +0.0: both zeros hash alike
    bits = pc.fill_null(values, 0.0).view(_U64)
    return pc.if_else(pc.fill_null(pc.is_nan(values), False), _u64(_NAN_BITS), bits)


def _column_hash(arr: pa.Array) -> np.ndarray:
    """A 64-bit value per row that depends only on the key's value (not yet mixed)."""
    typ = arr.type
    if pa.types.is_null(typ):
        return np.zeros(len(arr), np.uint64)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        h = _string_hash(arr)  # NULL hashes as the empty string: 0
    elif pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        h = _string_hash(arr)
    else:
        h = pc.fill_null(_fixed_width_hash(arr), 0).to_numpy(zero_copy_only=False)
        if arr.null_count:
            h = np.where(pc.is_null(arr).to_numpy(zero_copy_only=False), np.uint64(0), h)
    return h


def _fixed_width_hash(arr: pa.Array) -> pa.Array:
    typ = arr.type
    if pa.types.is_floating(typ):
        return _float_bits(arr)
    if pa.types.is_decimal(typ):
        return _float_bits(pc.cast(arr, pa.float64()))
    if pa.types.is_date32(typ) or pa.types.is_boolean(typ):
        return pc.cast(pc.cast(pc.cast(arr, pa.int32()), pa.int64()), _U64, safe=False)
    if pa.types.is_integer(typ):
        return pc.cast(pc.cast(arr, pa.int64()), _U64, safe=False)
    if pa.types.is_temporal(typ):
        return pc.cast(arr.view(pa.int64()), _U64, safe=False)
    raise EvaluationError(f"cannot partition rows on a column of type {typ}")


def _hashes(
    table: pa.Table, keys: list[str], known: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """Each row's hash: h = mix(h * P + column hash) over the key columns, h starting at 0.
    Combined and mixed a block of rows at a time, in cache and in place (whole columns took
    13 ms for 1.94 M rows, blocks 8 ms: measured, CPU). `known`: column hashes already
    computed, by key."""
    known = known or {}
    columns = [
        known[key] if key in known else _column_hash(table.column(key).combine_chunks())
        for key in keys
    ]
    h = np.empty(table.num_rows, np.uint64)
    scratch = np.empty(min(len(h), _BLOCK_ROWS), np.uint64)
    for first in range(0, len(h), _BLOCK_ROWS):
        block = h[first : first + _BLOCK_ROWS]
        block[:] = columns[0][first : first + _BLOCK_ROWS]  # h starts at 0: 0 * P + column
        _mix_in_place(block, scratch[: len(block)])
        for column in columns[1:]:
            block *= _P_U64
            block += column[first : first + _BLOCK_ROWS]
            _mix_in_place(block, scratch[: len(block)])
    return h


def row_hash(table: pa.Table, keys: list[str]) -> pa.Array:
    """A 64-bit hash of every row's key columns that depends only on their values."""
    return pa.array(_hashes(table, keys))


def partition_numbers(
    table: pa.Table, keys: list[str], partitions: int, known: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """The partition (0 … partitions-1) of every row, from the hash of its key columns, as a
    numpy int64 array. `known`: column hashes already computed (padded_string_hash), by key."""
    if partitions == 1 or not keys:
        return np.zeros(table.num_rows, np.int64)
    h = _hashes(table, keys, known)
    # h % partitions as h - (h // partitions) * partitions: numpy divides integers by a scalar
    # with multiplications (libdivide), its remainder does not (1.94 M rows: 4.7 -> 1.9 ms).
    quotient = h // np.uint64(partitions)
    quotient *= np.uint64(partitions)
    h -= quotient
    return h.view(np.int64)  # each value is below `partitions`


def partition_ids(table: pa.Table, keys: list[str], partitions: int) -> pa.Array:
    """The partition (0 … partitions-1) of every row, from the hash of its key columns."""
    return pa.array(partition_numbers(table, keys, partitions))

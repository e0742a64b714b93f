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
import pyarrow.compute as pc

from .errors import EvaluationError

_U64 = pa.uint64()
_M64 = (1 << 64) - 1
_P = 0x100000001B3  # FNV-1a 64-bit prime: combines the hashes of several key columns
_GOLDEN = 0x9E3779B97F4A7C15  # odd: (2k + 1) * _GOLDEN is a distinct odd multiplier per word k
_MIX1 = 0xFF51AFD7ED558CCD
_MIX2 = 0xC4CEB9FE1A85EC53
_NAN_BITS = 0x7FF8000000000000
# The first pass pads every value to the batch's longest, up to this many times the mean length
# (at least 64 bytes); longer values' remaining bytes are hashed in further passes over them only.
_PAD_FACTOR = 4
_BLOCK_ROWS = 8192  # rows per numpy pass of _words_sum: its products fit in a core's cache


def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value & _M64, _U64)


def _mix(h: pa.Array) -> pa.Array:
    """The murmur3 64-bit finalizer: spreads every input bit over the output."""
    h = pc.bit_wise_xor(h, pc.shift_right(h, _u64(33)))
    h = pc.multiply(h, _u64(_MIX1))
    h = pc.bit_wise_xor(h, pc.shift_right(h, _u64(33)))
    h = pc.multiply(h, _u64(_MIX2))
    return pc.bit_wise_xor(h, pc.shift_right(h, _u64(33)))


def _words_sum(piece: pa.Array, first_word: int) -> pa.Array:
    """Per value of a binary array without nulls: the sum over its 8-byte words of the word's
    mixed product with its position's constant (positions counted from first_word)."""
    n = len(piece)
    width = ((pc.max(pc.binary_length(piece)).as_py() or 0) + 7) & ~7
    if width == 0:
        return pa.repeat(_u64(0), n)
    # Pad with zero bytes to `width`: the data buffer is then n rows of width // 8 words each.
    text = pa.large_string() if pa.types.is_large_binary(piece.type) else pa.string()
    padded = pc.ascii_rpad(piece.view(text), width=width, padding="\x00")
    per_row = width // 8
    words = np.frombuffer(padded.buffers()[2], np.uint64, n * per_row).reshape(n, per_row)
    constants = np.array(
        [((2 * (first_word + k) + 1) * _GOLDEN) & _M64 for k in range(per_row)], np.uint64
    )
    # numpy, a block of rows at a time so that the products stay in cache while a row's words
    # are summed column by column (a sum along rows is slow for a few words; Arrow's running sum
    # and take, used before numpy shipped on Lambda, took 30% more CPU on Amplab's URLs and IPs).
    # uint64 arithmetic wraps as the hash wants.
    sums = np.empty(n, np.uint64)
    block = np.empty((min(n, _BLOCK_ROWS), per_row), np.uint64)
    shifted = np.empty_like(block)
    for first in range(0, n, _BLOCK_ROWS):
        rows = words[first : first + _BLOCK_ROWS]
        x, y, out = block[: len(rows)], shifted[: len(rows)], sums[first : first + len(rows)]
        np.multiply(rows, constants, out=x)
        np.right_shift(x, np.uint64(29), out=y)
        x ^= y  # the sum is not linear in the words
        out[:] = x[:, 0]
        for k in range(1, per_row):
            out += x[:, k]
    return pa.array(sums)


def _string_hash(arr: pa.Array) -> pa.Array:
    if pa.types.is_string(arr.type):
        arr = arr.view(pa.binary())
    elif pa.types.is_large_string(arr.type):
        arr = arr.view(pa.large_binary())
    arr = arr.fill_null(b"")
    lengths = pc.binary_length(arr)
    h = pc.multiply(pc.cast(lengths, _U64), _u64(_MIX2))
    longest = pc.max(lengths).as_py() or 0
    mean = pc.mean(lengths).as_py() or 0
    start = max(64, min(longest, int(_PAD_FACTOR * mean)) + 7) & ~7
    first = arr if longest <= start else pc.binary_slice(arr, 0, start)
    h = pc.add(h, _words_sum(first, 0))
    while start < longest:
        # Only the longer values take part, and the width doubles each pass: the padded copies
        # add up to at most twice the bytes of those values.
        longer = pc.greater(lengths, start)
        part = _words_sum(pc.binary_slice(arr.filter(longer), start, 2 * start), start // 8)
        rank = pc.subtract(pc.cumulative_sum(pc.cast(longer, pa.int64())), 1)
        added = pc.take(part, pc.max_element_wise(rank, 0))
        h = pc.add(h, pc.if_else(longer, added, _u64(0)))
        start *= 2
    return h


def _float_bits(arr: pa.Array) -> pa.Array:
    values = pc.add(arr.cast(pa.float64()), 0.0)  # -0.0 + 0.0 is +0.0: both zeros hash alike
    bits = values.fill_null(0.0).view(_U64)
    return pc.if_else(pc.is_nan(values).fill_null(False), _u64(_NAN_BITS), bits)


def _column_hash(arr: pa.Array) -> pa.Array:
    """A 64-bit value per row that depends only on the key's value (not yet mixed)."""
    typ = arr.type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        h = _string_hash(arr)
    elif pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        h = _string_hash(arr)
    elif pa.types.is_floating(typ):
        h = _float_bits(arr)
    elif pa.types.is_decimal(typ):
        h = _float_bits(pc.cast(arr, pa.float64()))
    elif pa.types.is_date32(typ) or pa.types.is_boolean(typ):
        h = pc.cast(pc.cast(arr, pa.int32()), pa.int64()).cast(_U64, safe=False)
    elif pa.types.is_integer(typ):
        h = pc.cast(arr, pa.int64()).cast(_U64, safe=False)
    elif pa.types.is_temporal(typ):
        h = arr.view(pa.int64()).cast(_U64, safe=False)
    elif pa.types.is_null(typ):
        return pa.repeat(_u64(0), len(arr))
    else:
        raise EvaluationError(f"cannot partition rows on a column of type {typ}")
    if arr.null_count:
        h = pc.if_else(pc.is_null(arr), _u64(0), h)
    return h


def row_hash(table: pa.Table, keys: list[str]) -> pa.Array:
    """A 64-bit hash of every row's key columns that depends only on their values."""
    h = pa.repeat(_u64(0), table.num_rows)
    for key in keys:
        col = table.column(key).combine_chunks()
        h = _mix(pc.add(pc.multiply(h, _u64(_P)), _column_hash(col)))
    return h


def partition_ids(table: pa.Table, keys: list[str], partitions: int) -> pa.Array:
    """The partition (0 … partitions-1) of every row, from the hash of its key columns."""
    n = table.num_rows
    if partitions == 1 or not keys:
        return pa.repeat(pa.scalar(0, pa.int64()), n)
    return pc.cast(pc.remainder(row_hash(table, keys), _u64(partitions)), pa.int64())

"""Hash partitioning of rows by key columns, with pyarrow kernels only.

Arrow exposes no row hash, so one is built from vectorized kernels: integers, floats and dates
hash their 64-bit value; strings hash a polynomial over their bytes. The polynomial of every
string is read off one cumulative sum over the whole byte buffer: the sum between a string's
offsets equals P^start times the string's own polynomial, and P is odd, hence invertible modulo
2^64, so multiplying by P^-start makes the hash independent of where the string sits. The hash
therefore depends only on the key's value, which is what lets map tasks agree on partitions.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_U64 = pa.uint64()
_P = 0x100000001B3  # FNV-1a 64-bit prime: odd, so invertible modulo 2**64
_P_INV = pow(_P, -1, 2**64)
_MIX1 = 0xFF51AFD7ED558CCD
_MIX2 = 0xC4CEB9FE1A85EC53


def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value, _U64)


def _mix(h: pa.Array) -> pa.Array:
    """The murmur3 64-bit finalizer: spreads every input bit over the output."""
    h = pc.bit_wise_xor(h, pc.shift_right(h, _u64(33)))
    h = pc.multiply(h, _u64(_MIX1))
    h = pc.bit_wise_xor(h, pc.shift_right(h, _u64(33)))
    h = pc.multiply(h, _u64(_MIX2))
    return pc.bit_wise_xor(h, pc.shift_right(h, _u64(33)))


def _powers(base: int, count: int) -> pa.Array:
    """[1, base, base^2, …] modulo 2**64, count values."""
    if count <= 1:
        return pa.array([1][:count], _U64)
    steps = pa.repeat(_u64(base), count - 1)
    return pa.concat_arrays([pa.array([1], _U64), pc.cumulative_prod(steps)])


def _power_at(base: int, exponents: pa.Array) -> pa.Array:
    """base ** e modulo 2**64 for every e, by binary exponentiation over the bits of e."""
    result = pa.repeat(_u64(1), len(exponents))
    exponents = exponents.cast(_U64)
    bit, square = 0, base
    top = pc.max(exponents).as_py() or 0
    while (1 << bit) <= top:
        mask = pc.bit_wise_and(pc.shift_right(exponents, _u64(bit)), _u64(1))
        factor = pc.if_else(pc.equal(mask, _u64(1)), _u64(square), _u64(1))
        result = pc.multiply(result, factor)
        bit, square = bit + 1, square * square % 2**64
    return result


def _string_hash(arr: pa.Array) -> pa.Array:
    arr = arr.cast(pa.large_binary())
    n = len(arr)
    _validity, offsets_buf, data_buf = arr.buffers()
    offsets = pa.Array.from_buffers(pa.int64(), n + 1, [None, offsets_buf], offset=arr.offset)
    first, last = offsets[0].as_py(), offsets[n].as_py()
    if last == first:
        return pa.repeat(_u64(0), n)
    data = pa.Array.from_buffers(pa.uint8(), last, [None, data_buf]).slice(first, last - first)
    rel = pc.subtract(offsets, pa.scalar(first, pa.int64()))
    # Byte g (counted from the first string) contributes (byte + 1) * P^(g + 1).
    weights = _powers(_P, last - first + 1)
    terms = pc.multiply(pc.add(pc.cast(data, _U64), _u64(1)), weights.slice(1))
    prefix = pa.concat_arrays([pa.array([0], _U64), pc.cumulative_sum(terms)])
    starts, ends = rel.slice(0, n), rel.slice(1, n)
    span = pc.subtract(pc.take(prefix, ends), pc.take(prefix, starts))
    unshift = _power_at(_P_INV, starts)
    return pc.multiply(span, unshift)


def _column_hash(arr: pa.Array) -> pa.Array:
    typ = arr.type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ):
        h = _string_hash(arr)
    elif pa.types.is_floating(typ):
        # -0.0 + 0.0 is +0.0, so both zeros hash alike, as they compare equal.
        h = pc.add(arr.cast(pa.float64()), 0.0).fill_null(0.0).view(_U64)
    elif pa.types.is_date32(typ) or pa.types.is_boolean(typ):
        h = pc.cast(pc.cast(arr, pa.int32()), pa.int64()).cast(_U64, safe=False)
    elif pa.types.is_integer(typ):
        h = pc.cast(arr, pa.int64()).cast(_U64, safe=False)
    elif pa.types.is_null(typ):
        return pa.repeat(_u64(0), len(arr))
    else:
        raise TypeError(f"cannot partition on a column of type {typ}")
    # NULL keys form one group, so they all go to one partition.
    return pc.if_else(pc.is_null(arr), _u64(0), h)


def partition_ids(table: pa.Table, keys: list[str], partitions: int) -> pa.Array:
    """The partition (0 … partitions-1) of every row, from the hash of its key columns."""
    n = table.num_rows
    if partitions == 1 or not keys:
        return pa.repeat(pa.scalar(0, pa.int64()), n)
    h = pa.repeat(_u64(0), n)
    for key in keys:
        col = table.column(key).combine_chunks()
        h = _mix(pc.add(pc.multiply(h, _u64(_P)), _column_hash(col)))
    return pc.cast(pc.remainder(h, _u64(partitions)), pa.int64())

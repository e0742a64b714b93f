"""The partition hash depends only on a key's value: equal keys land in the same partition
whatever batch they travel in (its width, its other keys, its column type), and it balances."""

from __future__ import annotations

import math
import random
import struct

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmr_runtime.partition import partition_ids

PARTITIONS = 16


def _ids(values: list, typ: pa.DataType) -> list[int]:
    return partition_ids(pa.table({"k": pa.array(values, typ)}), ["k"], PARTITIONS).to_pylist()


# A value, and types that must give it the same partition.
TEXT = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(alphabet="ab\x00", max_size=24),  # zero bytes look like padding
    st.text(min_size=60, max_size=300),  # beyond the first pass's width
)
FAMILIES = {
    "text": (TEXT, [pa.string(), pa.large_string()]),
    "bytes": (st.one_of(st.none(), st.binary(max_size=40)), [pa.binary(), pa.large_binary()]),
    "int": (
        st.one_of(st.none(), st.integers(-(2**7), 2**7 - 1)),
        [pa.int8(), pa.int16(), pa.int32(), pa.int64()],
    ),
    "float": (
        st.one_of(st.none(), st.floats(width=32), st.sampled_from([0.0, -0.0, math.nan])),
        [pa.float32(), pa.float64()],
    ),
}
# Keys of other widths that share a batch with the keys under test.
FILLERS = {
    "text": st.text(min_size=0, max_size=500),
    "bytes": st.binary(max_size=500),
    "int": st.integers(-(2**7), 2**7 - 1),
    "float": st.floats(width=32),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_equal_keys_share_a_partition_in_any_batch(family: str) -> None:
    values_st, types = FAMILIES[family]

    @settings(max_examples=40, deadline=None)
    @given(st.lists(values_st, min_size=1, max_size=30), st.lists(FILLERS[family], max_size=8))
    def check(values: list, fillers: list) -> None:
        reference = [_ids([v], types[0])[0] for v in values]  # each key alone: narrowest batch
        for typ in types:
            assert _ids(values, typ) == reference
            # Wider and narrower neighbours, before and after, in another order.
            batch = fillers + values[::-1] + fillers
            got = _ids(batch, typ)[len(fillers) : len(fillers) + len(values)]
            assert got == reference[::-1]

    check()


def test_zeros_and_nans_are_one_key_each() -> None:
    quiet, other = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0], -math.nan
    for typ in (pa.float64(), pa.float32()):
        assert len(set(_ids([0.0, -0.0], typ))) == 1
        assert len(set(_ids([math.nan, quiet, other], typ))) == 1
    assert len(set(_ids([None, None], pa.string()))) == 1


def test_several_keys_combine_in_order() -> None:
    table = pa.table({"a": ["x", "y", "x" * 100], "b": pa.array([1, 2, 3], pa.int32())})
    together = partition_ids(table, ["a", "b"], PARTITIONS).to_pylist()
    for i in range(table.num_rows):
        assert partition_ids(table.slice(i, 1), ["a", "b"], PARTITIONS).to_pylist() == [together[i]]
    swapped = partition_ids(table, ["b", "a"], 1 << 20).to_pylist()
    assert swapped != partition_ids(table, ["a", "b"], 1 << 20).to_pylist()


@pytest.mark.parametrize("partitions", [8, 16, 32])
def test_balance_on_amplab_like_keys(partitions: int) -> None:
    """Distinct sourceIP prefixes as Amplab 2a-2c group them: within 5% of the mean (about 3
    standard deviations of a uniform assignment of this many keys)."""
    rng = random.Random(0)
    ips: dict[str, None] = {}
    while len(ips) < 200_000:
        ips[".".join(str(rng.randrange(1, 255)) for _ in range(3))] = None
    counts = [0] * partitions
    for p in partition_ids(pa.table({"k": list(ips)}), ["k"], partitions).to_pylist():
        counts[p] += 1
    assert max(counts) / (len(ips) / partitions) <= 1.05, counts


def test_unmix_inverts_the_finalizer() -> None:
    """grouping rebuilds packed string keys from their mixed words: unmix must undo mix."""
    from sqlmr_runtime.partition import mix, unmix

    words = np.random.default_rng(0).integers(0, 1 << 64, 10_000, dtype=np.uint64)
    words[:3] = [0, 1, (1 << 64) - 1]
    assert np.array_equal(unmix(mix(words)), words)
    assert not np.array_equal(mix(words), words)

"""The runtime's compute functions (sqlmr_runtime.compute) answer as pyarrow.compute's do (that
they load without it: test_startup)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as reference
import pytest
from sqlmr_runtime import compute as pc

NUMBERS = pa.array([1.25, None, -3.5, 7.0])
WORDS = pa.chunked_array([["apple", None], ["pear", "fig"]])


@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("add", (NUMBERS, 2.0), {}),
        ("and_", (pa.array([True, None, False]), pa.array([True, True, None])), {}),
        ("or_kleene", (pa.array([True, None, False]), pa.array([False, True, None])), {}),
        ("round", (NUMBERS, 1), {}),  # an option's field by position
        ("round", (NUMBERS,), {"ndigits": 1, "round_mode": "half_to_even"}),  # by keyword
        ("round", (NUMBERS,), {"options": reference.RoundOptions(1)}),
        ("round", (NUMBERS,), {"options": {"ndigits": 1}}),
        ("utf8_slice_codeunits", (WORDS, 1, 3), {}),
        ("ascii_rpad", (WORDS, 6, "."), {}),
        ("binary_join_element_wise", (WORDS, WORDS, "-"), {}),  # a variadic kernel
        ("min_element_wise", (NUMBERS, pa.array([0.0, 1.0, None, 9.0])), {"skip_nulls": False}),
        ("match_like", (WORDS, "%a%"), {}),
        ("array_sort_indices", (NUMBERS,), {"order": "descending"}),
        ("cast", (NUMBERS, pa.int64()), {"safe": False}),
        ("cast", (pa.array([1, 300]), pa.int16()), {}),
        ("fill_null", (WORDS, "none"), {}),
        ("fill_null", (NUMBERS, pa.scalar(0, pa.int64())), {}),  # a scalar of another type
        ("take", (pa.table({"a": [1, 2, 3]}), pa.array([2, 0])), {}),
        ("filter", (NUMBERS, pa.array([True, False, None, True])), {}),
        ("index", (NUMBERS, 7.0), {}),
        ("index", (NUMBERS, 8.0), {}),
        ("sum", (NUMBERS,), {"min_count": 5}),
    ],
)
def test_each_function_answers_as_pyarrow_compute_does(name, args, kwargs) -> None:
    assert getattr(pc, name)(*args, **kwargs).equals(getattr(reference, name)(*args, **kwargs))


def test_a_table_is_cast_column_by_column_and_checked() -> None:
    table = pa.table({"a": [1, 2], "b": ["x", None]})
    target = pa.schema([("A", pa.float64()), ("B", pa.large_string())])
    assert pc.cast_table(table, target).equals(table.rename_columns(["A", "B"]).cast(target))
    with pytest.raises(pa.ArrowInvalid):
        pc.cast_table(pa.table({"a": [70000]}), pa.schema([("a", pa.int16())]))


def test_an_expression_argument_builds_an_expression() -> None:
    got = pc.add(reference.field("x"), 1)
    assert isinstance(got, pc.Expression)
    assert got.equals(reference.add(reference.field("x"), 1))


def test_options_classes_and_bad_calls() -> None:
    assert pc.ScalarAggregateOptions is reference.ScalarAggregateOptions
    with pytest.raises(AttributeError, match="no compute function 'no_such_kernel'"):
        pc.no_such_kernel  # noqa: B018
    with pytest.raises(TypeError, match="add takes 2 positional argument"):
        pc.add(NUMBERS)
    with pytest.raises(TypeError, match="both 'options' and option arguments"):
        pc.round(NUMBERS, 1, options=reference.RoundOptions(2))
    with pytest.raises(TypeError, match="takes no options"):
        pc.negate(NUMBERS, 1)


def test_the_suite_refuses_arrow_methods_that_load_pyarrow_compute_in_sqlmr_code() -> None:
    """conftest's session guard: a call from a file of the runtime fails, naming its line; the
    same call from a test does not."""
    import sqlmr_runtime.scan

    source = "def cast_one():\n    return pa.array([1]).cast(pa.float64())\n"
    scope = {"pa": pa}
    exec(compile(source, sqlmr_runtime.scan.__file__, "exec"), scope)
    with pytest.raises(AssertionError, match=r"scan\.py:2 calls an Arrow method"):
        scope["cast_one"]()
    assert pa.array([1]).cast(pa.float64()).equals(pa.array([1.0]))

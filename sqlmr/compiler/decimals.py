"""DECIMAL typing as DuckDB does it (each rule checked with DuckDB's `typeof`).

- A literal with a point and at most 38 digits is DECIMAL(digits, digits after the point):
  0.06 is DECIMAL(3,2); 1e3 and longer literals are DOUBLE.
- In arithmetic and comparisons INTEGER is DECIMAL(10,0), BIGINT DECIMAL(19,0), HUGEINT
  DECIMAL(38,0); DOUBLE wins over DECIMAL (the result is DOUBLE).
- + and -: scale max(s1, s2), width max(p1 - s1, p2 - s2) + scale + 1, capped at 38.
- *: scale s1 + s2, width p1 + p2; a width over 18 from two operands of at most 18 digits
  stays 18 (DuckDB computes in 64 bits and checks for overflow), and widths cap at 38.
- / is DOUBLE; unary minus keeps the type; SUM is DECIMAL(38, s), AVG DOUBLE, MIN/MAX keep it.
- A result that does not fit its type is an overflow error (the runtime's checked cast).
"""

from __future__ import annotations

import decimal

from sqlmr_runtime.types import MAX_PRECISION, decimal_of, decimal_type

# Integer types as DECIMALs of the same range, as DuckDB widens them.
_INTEGERS = {"int32": (10, 0), "int64": (19, 0), "int128": (38, 0)}
_INT64_DIGITS = 18  # what DuckDB multiplies in 64 bits


def precision_scale(type_name: str) -> tuple[int, int] | None:
    """(p, s) of a DECIMAL or integer type seen as a DECIMAL; None for other types."""
    return _INTEGERS.get(type_name) or decimal_of(type_name)


def is_decimal(type_name: str) -> bool:
    """Whether a plan type is DECIMAL(p,s)."""
    return decimal_of(type_name) is not None


def literal_type(text: str) -> str | None:
    """The type of a numeric literal with a point ('0.06' → decimal(3,2)); None for DOUBLE."""
    if "e" in text.lower() or "." not in text:
        return None
    whole, _, fraction = text.lstrip("+-").partition(".")
    digits = len(whole.lstrip("0") or "0") + len(fraction)
    if digits > MAX_PRECISION:
        return None
    return decimal_type(digits, len(fraction))


def add_type(a: str, b: str) -> str:
    """The type of a + b and a - b."""
    (p1, s1), (p2, s2) = precision_scale(a), precision_scale(b)
    scale = max(s1, s2)
    return decimal_type(min(max(p1 - s1, p2 - s2) + scale + 1, MAX_PRECISION), scale)


def mul_type(a: str, b: str) -> str:
    """The type of a * b."""
    (p1, s1), (p2, s2) = precision_scale(a), precision_scale(b)
    width, scale = p1 + p2, s1 + s2
    if width > _INT64_DIGITS and p1 <= _INT64_DIGITS and p2 <= _INT64_DIGITS:
        width = _INT64_DIGITS
    width = min(width, MAX_PRECISION)
    if scale > width:
        width = min(scale, MAX_PRECISION)
    return decimal_type(width, min(scale, width))


def common_type(types: list[str]) -> str:
    """The one DECIMAL that holds every value of these DECIMAL/integer types (CASE, IN, ±)."""
    pairs = [precision_scale(t) for t in types]
    scale = max(s for _, s in pairs)
    whole = max(p - s for p, s in pairs)
    return decimal_type(min(whole + scale, MAX_PRECISION), scale)


def sum_type(type_name: str) -> str:
    """SUM of a DECIMAL(p, s): DECIMAL(38, s)."""
    return decimal_type(MAX_PRECISION, precision_scale(type_name)[1])


# -- typed IR: literals, casts and arithmetic (expressions.py calls these) ------------------------


def literal(text: str) -> Typed | None:
    """A numeric literal with a point as DuckDB's DECIMAL; None if DuckDB makes it a DOUBLE."""
    type_name = literal_type(text)
    if type_name is None:
        return None
    return lit(_text(decimal.Decimal(text), type_name), type_name)


def _text(value: decimal.Decimal, type_name: str) -> str:
    _, s = precision_scale(type_name)
    with decimal.localcontext() as ctx:
        ctx.prec = 80  # a DECIMAL holds 38 digits; Python's default context, 28
        return f"{value.quantize(decimal.Decimal(1).scaleb(-s)):f}"


def constant(value: decimal.Decimal, type_name: str) -> Typed:
    """A DECIMAL literal of this type; a value that does not fit is an overflow error."""
    rounded = _round_half_away(value, precision_scale(type_name)[1])
    p, s = precision_scale(type_name)
    if abs(rounded) >= decimal.Decimal(10) ** (p - s):
        raise OverflowError(f"{rounded} does not fit in DECIMAL({p},{s})")
    return lit(_text(rounded, type_name), type_name)


def _round_half_away(value: decimal.Decimal, scale: int) -> decimal.Decimal:
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        return value.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP)


def _exact(value: Typed) -> decimal.Decimal | None:
    """A constant integer or DECIMAL's exact value (None if not a constant of those)."""
    if "lit" not in value.ir or value.ir["lit"] is None:
        return None
    if is_decimal(value.type) or value.type in _INTEGERS:
        return decimal.Decimal(str(value.ir["lit"]))
    return None


def fold_cast(value: Typed, type_name: str) -> Typed | None:
    """CAST of a constant to or from DECIMAL, computed here exactly (None: not foldable)."""
    exact = _exact(value)
    if exact is None or not (is_decimal(type_name) or is_decimal(value.type)):
        return None
    if is_decimal(type_name):
        return constant(exact, type_name)
    if type_name == "float64":
        return lit(float(exact), "float64")
    if type_name in ("int32", "int64"):
        rounded = int(_round_half_away(exact, 0))
        bits = 31 if type_name == "int32" else 63
        if not -(2**bits) <= rounded < 2**bits:
            raise OverflowError(f"{rounded} is out of range")
        return lit(rounded, type_name)
    return None


def comparable(value: Typed) -> Typed:
    """An operand of a DECIMAL comparison: integers as DECIMAL(n,0), decimals as they are
    (the runtime compares decimals of any scales exactly)."""
    if value.type in _INTEGERS and value.type != "int128":
        return cast(value, decimal_type(*_INTEGERS[value.type]))
    if value.type == "null":
        return cast(value, decimal_type(18, 3))
    return value


def convert_text(text_value: str, type_name: str) -> Typed:
    """A string literal compared with a DECIMAL, converted to its type (rounded, as DuckDB)."""
    return constant(decimal.Decimal(text_value.strip()), type_name)


def arithmetic(fn: str, a: Typed, b: Typed) -> Typed:
    """DECIMAL + - * (neither side a DOUBLE): typed as DuckDB, folded when both are constant,
    else computed by the runtime and cast to the declared type (the overflow check)."""
    a, b = (cast(v, "int32") if v.type == "null" else v for v in (a, b))
    result = mul_type(a.type, b.type) if fn == "mul" else add_type(a.type, b.type)
    x, y = _exact(a), _exact(b)
    if x is not None and y is not None:
        with decimal.localcontext() as ctx:
            ctx.prec = 80
            value = {"add": x + y, "sub": x - y, "mul": x * y}[fn]
        return constant(value, result)
    a, b = comparable(a), comparable(b)
    return call("cast", result, call(fn, result, a, b), to=result)


from sqlmr.compiler.expressions import Typed, call, cast, lit  # noqa: E402

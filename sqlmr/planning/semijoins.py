"""IN and EXISTS subqueries as semi-join filters on the tables they constrain.

sqlglot's unnest_subqueries writes `x IN (SELECT k FROM … GROUP BY k HAVING …)` (and EXISTS
correlated on one equality) as

    LEFT JOIN (SELECT k FROM … GROUP BY k …) AS u ON u.k = x  WHERE u.k IS NOT NULL

The WHERE rejects the rows the LEFT JOIN padded, so the join is inner; and u holds each k once
(its one output is its one group key), so joining it never multiplies rows: it only removes
those whose key is not in the set. A set that is small by the plan's estimate is therefore
broadcast into every table item whose key the WHERE's equalities equate to x (TPC-H Q18:
orders on o_orderkey, and lineitem on l_orderkey = o_orderkey), before any other join, instead
of joining the LEFT item last, after the big tables were shuffled to meet each other.

Only inner FROM items are filtered: a row removed from the side an outer join preserves
removes only the result rows made from it, which the subquery's condition would have removed
too, while one removed from a null-supplying side would come back padded with NULLs. A block
with a RIGHT or FULL join is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmr.compiler.logical import Block, Condition, FromItem

IR = dict[str, Any]


@dataclass(frozen=True)
class SemiJoin:
    """A FROM item that only filters: `item`'s one column `column` holds a set of distinct keys,
    `targets` are the (inner table item, key over it) it filters, and `conditions` are the
    block's conditions it satisfies (its IS NOT NULL and its equalities)."""

    item: int
    column: str
    targets: tuple[tuple[int, IR], ...]
    conditions: tuple[Condition, ...]


def semi_joins(block: Block) -> list[SemiJoin]:
    """The block's LEFT items that are semi-joins with at least one table to filter."""
    if any(item.how in ("right", "full") for item in block.items):
        return []
    found = []
    for i, item in enumerate(block.items):
        column = _distinct_key(item)
        if column is None or item.how != "left":
            continue
        semi = _semi_join(block, i, column)
        if semi is not None:
            found.append(semi)
    return found


def _distinct_key(item: FromItem) -> str | None:
    """The item's one column, when it is a derived block's one group key (each value once)."""
    block = item.block
    if not isinstance(block, Block) or len(item.columns) != 1:
        return None
    top = block.top
    if not top.grouped or len(top.keys) != 1 or top.distinct or top.limit is not None:
        return None
    if top.post_projections or len(top.projections) != 1:
        return None
    (out, expr), (key, _) = top.projections[0], top.keys[0]
    name, ref = item.columns[0]
    if not (_is_column(expr, key) and _is_column(ref, out)):
        return None
    return name


def _is_column(ir: IR, name: str) -> bool:
    """Whether the IR is a bare reference to the named column."""
    return isinstance(ir, dict) and ir.keys() == {"col"} and ir["col"] == name


def _is_not_null(ir: IR, column: str) -> bool:
    """Whether the IR is `column IS NOT NULL`."""
    args = ir.get("args") if isinstance(ir, dict) and ir.get("fn") == "is_not_null" else None
    return isinstance(args, list) and len(args) == 1 and _is_column(args[0], column)


def _semi_join(block: Block, i: int, column: str) -> SemiJoin | None:
    """Item i as a semi-join: its ON holds only equalities of its column to other items' keys,
    and the block's only other condition on it is that column IS NOT NULL."""
    item = block.items[i]
    if not item.on or any(c.equi is None for c in item.on):
        return None
    links = []
    for c in item.on:
        a, ka, b, kb = c.equi
        (mine, theirs) = (ka, (b, kb)) if a == i else (kb, (a, ka))
        if not _is_column(mine, column) or theirs[0] == i:
            return None
        links.append(theirs)
    on_it = [c for c in block.conditions if i in c.uses]
    if not on_it or any(c.uses != frozenset({i}) or not _is_not_null(c.ir, column) for c in on_it):
        return None
    targets: dict[int, IR] = {}
    for t, key in _equated(block.conditions, links):
        if block.items[t].table is not None and block.items[t].how in ("inner", "cross"):
            targets.setdefault(t, key)
    if not targets:
        return None
    return SemiJoin(i, column, tuple(targets.items()), tuple(on_it))


def _equated(conditions: Iterable[Condition], start: list[tuple[int, IR]]) -> list[tuple[int, IR]]:
    """Every (item, key) the block's equalities equate to one of `start`, those included. Keys
    are matched as identical expressions, so all are compared in one type (each equality casts
    both sides to their common type)."""
    found = list(start)
    grew = True
    while grew:
        grew = False
        for c in conditions:
            if c.equi is None:
                continue
            a, ka, b, kb = c.equi
            for have, new in (((a, ka), (b, kb)), ((b, kb), (a, ka))):
                if have in found and new not in found:
                    found.append(new)
                    grew = True
    return sorted(found, key=lambda t: t[0])

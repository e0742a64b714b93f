"""The Amplab Big Data Benchmark queries that run on one table (scan 1a–1c, aggregation 2a–2c)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchQuery:
    """A benchmark query: its SQL and the parameter the classic mapper needs."""

    name: str
    kind: str  # scan | aggregation
    param: int  # pageRank threshold (scan) or sourceIP prefix length (aggregation)
    table: str

    @property
    def sql(self) -> str:
        if self.kind == "scan":
            return f"SELECT pageURL, pageRank FROM rankings WHERE pageRank > {self.param}"
        return (
            f"SELECT SUBSTR(sourceIP, 1, {self.param}), SUM(adRevenue) FROM uservisits "
            f"GROUP BY SUBSTR(sourceIP, 1, {self.param})"
        )


QUERIES: dict[str, BenchQuery] = {
    "1a": BenchQuery("1a", "scan", 1000, "rankings"),
    "1b": BenchQuery("1b", "scan", 100, "rankings"),
    "1c": BenchQuery("1c", "scan", 10, "rankings"),
    "2a": BenchQuery("2a", "aggregation", 8, "uservisits"),
    "2b": BenchQuery("2b", "aggregation", 10, "uservisits"),
    "2c": BenchQuery("2c", "aggregation", 12, "uservisits"),
}

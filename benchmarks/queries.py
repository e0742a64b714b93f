"""The Amplab Big Data Benchmark queries that run on one table (scan 1a–1c, aggregation 2a–2c)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchQuery:
    """A benchmark query: its SQL and the parameter the classic mapper needs."""

    name: str
    kind: str  # scan | aggregation | join
    param: int | str  # pageRank threshold, sourceIP prefix length, or the join's end date
    tables: tuple[str, ...]

    @property
    def sql(self) -> str:
        if self.kind == "scan":
            return f"SELECT pageURL, pageRank FROM rankings WHERE pageRank > {self.param}"
        if self.kind == "aggregation":
            return (
                f"SELECT SUBSTR(sourceIP, 1, {self.param}), SUM(adRevenue) FROM uservisits "
                f"GROUP BY SUBSTR(sourceIP, 1, {self.param})"
            )
        # The benchmark page's query 3, with DATE literals in the BETWEEN.
        return (
            "SELECT sourceIP, totalRevenue, avgPageRank FROM "
            "(SELECT sourceIP, AVG(pageRank) AS avgPageRank, SUM(adRevenue) AS totalRevenue "
            "FROM Rankings AS R, UserVisits AS UV WHERE R.pageURL = UV.destURL "
            f"AND UV.visitDate BETWEEN DATE '1980-01-01' AND DATE '{self.param}' "
            "GROUP BY UV.sourceIP) ORDER BY totalRevenue DESC LIMIT 1"
        )


QUERIES: dict[str, BenchQuery] = {
    "1a": BenchQuery("1a", "scan", 1000, ("rankings",)),
    "1b": BenchQuery("1b", "scan", 100, ("rankings",)),
    "1c": BenchQuery("1c", "scan", 10, ("rankings",)),
    "2a": BenchQuery("2a", "aggregation", 8, ("uservisits",)),
    "2b": BenchQuery("2b", "aggregation", 10, ("uservisits",)),
    "2c": BenchQuery("2c", "aggregation", 12, ("uservisits",)),
    "3a": BenchQuery("3a", "join", "1980-04-01", ("rankings", "uservisits")),
    "3b": BenchQuery("3b", "join", "1983-01-01", ("rankings", "uservisits")),
    "3c": BenchQuery("3c", "join", "2010-01-01", ("rankings", "uservisits")),
}

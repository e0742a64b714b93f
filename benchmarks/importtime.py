"""What each sqlmr command spends importing the heavy libraries, from `python -X importtime`.

    python -m sqlmr_benchmarks.importtime [--runs 5]

For `sqlmr --version`, a query on the embedded data piped to a file, and `sqlmr explain`, each
run in a fresh interpreter, it prints the cumulative import time (µs, median of the runs) of each
heavy top-level module the command loaded, and the whole import total; a module not imported
shows as "-".
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HEAVY = ("pyarrow", "numpy", "sqlglot", "boto3", "botocore", "rich", "aws_xray_sdk")
QUERY = "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 1000"
COMMANDS = {
    "sqlmr --version": ["--version"],
    "sqlmr query (embedded, piped)": ["query", QUERY, "--workers", "1"],
    "sqlmr explain": ["explain", QUERY],
}


def imports_of(stderr: str) -> dict[str, int]:
    """Cumulative µs of each module the first time it was imported, from importtime's lines
    `import time: self | cumulative | name` (a nested module's name is indented)."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if cumulative.strip().isdigit():
            found.setdefault(name.strip(), int(cumulative))
    return found


def top_level_total(stderr: str) -> int:
    """The sum of the cumulative times of top-level imports (names not indented)."""
    total = 0
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line[len("import time:") :].split("|")
            if cumulative.strip().isdigit() and not name[1:].startswith(" "):
                total += int(cumulative)
    return total


def measure(argv: list[str]) -> tuple[dict[str, int], int]:
    """One run of `sqlmr ARGV` with stdout to a file: heavy modules' µs and the total."""
    with tempfile.TemporaryFile() as out:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "from sqlmr.cli import console; console()"]
            + argv,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    if done.returncode != 0:
        raise SystemExit(f"sqlmr {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    found = imports_of(done.stderr)
    return {m: found[m] for m in HEAVY if m in found}, top_level_total(done.stderr)


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args(args)
    print("| command | " + " | ".join(HEAVY) + " | all imports |")
    print("|---|" + "---:|" * (len(HEAVY) + 1))
    for label, argv in COMMANDS.items():
        runs = [measure(argv) for _ in range(opts.runs)]
        cells = []
        for module in HEAVY:
            values = [r[0][module] for r in runs if module in r[0]]
            cells.append(f"{statistics.median(values):,.0f}" if values else "-")
        total = statistics.median(r[1] for r in runs)
        print(f"| `{label}` | " + " | ".join(cells) + f" | {total:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

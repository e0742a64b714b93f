"""sqlmr_benchmarks: the Amplab benchmark harness behind `sqlmr bench amplab`.

Each engine runs in its own process (engines.py); the harness interleaves runs, verifies that
every engine returns the same rows, and reports times, throughput, memory and ratios.
"""

# First, before any module of the harness imports pyarrow, as `import sqlmr` does: Arrow's
# allocator reads its options (no huge pages, no purging; sqlmr_runtime.allocator) only when it
# loads. Loaded after pyarrow, the sqlmr engine ran with mimalloc's defaults here while the CLI
# did not (2c at scale 0.05: 2.03 s of system time against 1.29 s, measured under load), so the
# bench measured a configuration no user runs. Every engine's process gets the same settings.
import sqlmr_runtime  # noqa: F401, E402

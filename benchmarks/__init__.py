"""sqlmr_benchmarks: the Amplab benchmark harness behind `sqlmr bench amplab`.

Each engine runs in its own process (engines.py); the harness interleaves runs, verifies that
every engine returns the same rows, and reports times, throughput, memory and ratios.
"""

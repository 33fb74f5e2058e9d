"""Benchmark harness: aioversioned vs versioned 1.0.1 vs a hand-written aiobotocore floor.

Run ``python -m benchmarks`` (see ``--help``). It starts a local moto server and, in
front of it, one delaying proxy per ``--delays`` value, then writes
``docs/benchmarks.json`` and ``docs/img/benchmarks.png`` and prints a table.
"""

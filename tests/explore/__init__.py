"""The schedule explorer: seeded random workloads under injected faults, then a check.

``python -m tests.explore --server moto|seaweedfs|cluster --seeds 5000`` runs a soak;
``--seed N`` replays one seed and prints its calls. Modules: ``workload`` (the plan
of a seed, pure), ``faults`` (per-request faults drawn from the seed), ``runner``
(writers in two processes), ``checker`` (the invariants), ``servers`` (servers for
the command line; tests use the fixtures in tests/conftest.py).
"""

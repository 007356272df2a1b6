"""Benchmarks (measurements only; not part of the test run). Run from the repository root as
modules, e.g. ``.venv/bin/python -m bench.bench_local``; see bench/README.md."""

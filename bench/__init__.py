"""Reproducible benchmarks; `make bench` runs them all and records figures in bench/RESULTS.md."""

"""Benchmarks: `python -m bench [--quick]`. Each figure is a ratio against a floor measured in the same run."""

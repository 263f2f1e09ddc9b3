"""Benchmarks: each module measures a ratio against a baseline run side by side."""

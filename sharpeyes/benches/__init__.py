"""Benchmarks and figures: each prints JSON that compares against a baseline of the same run.

They drive whole stages (and the runtime that starts them), so they live in the
composition root rather than inside the stage they measure.
"""

"""Benchmarks for notifier: `python -m bench --help`. They print figures; they are not tests."""

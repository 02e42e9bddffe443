"""Benchmarks run by hand (``python -m bench.<name>``); each prints figures and asserts nothing about speed."""

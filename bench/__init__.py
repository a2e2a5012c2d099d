"""Benchmarks of the event store against the raw database driver and the `eventsourcing` library.

Run `python -m bench` (or `make bench`); see bench/__main__.py for the options.
"""

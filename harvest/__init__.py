"""Harvesters: one module per source, each with network `fetch_*` and pure `parse_*` functions."""

"""Article sources: one module each, with `SOURCE`, `parse`, `looks_like` and `lookup` (see harvest/sources.py)."""

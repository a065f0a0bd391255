"""Pure extractors over plain text (no I/O): reported statistics, drug schedules and endpoints.

Each extractor takes a str and returns plain dicts whose `span_start`/`span_end` index into that same str, so every
derived value can point back at the characters it came from.
"""

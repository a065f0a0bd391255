"""Harvest: fetch responses from the registry and the article sources, and parse them into records.

Layout (docs/architecture.md): `http` (the one HTTP layer), `errors`, `identifiers`, `parsing` (shared helpers),
`records` (the contract every parser returns), `sources` (every source registered once), `registries/` and
`articles/` (one module per source). Nothing here imports from `kb`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("trial-kb")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0"

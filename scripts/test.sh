#!/usr/bin/env bash
# The whole test suite: install, lint (ruff, configured in pyproject.toml), then pytest (the network is blocked inside
# the tests; only loopback is allowed).
# The browser tests drive Debian's chromium (installed here when missing; never `playwright install`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
if ! command -v chromium >/dev/null; then
  as_root=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $as_root apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# The whole test suite: install, then pytest (the network is blocked inside the tests; only loopback is allowed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

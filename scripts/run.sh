#!/usr/bin/env bash
# The main job: install, build the KB for the default target (NCT02193698 / PMID 32009091) and serve it.
# Without network the build falls back to the recorded responses shipped with trial-kb (kb build --offline).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
.venv/bin/kb build || .venv/bin/kb build --offline
exec .venv/bin/kb serve "$@"

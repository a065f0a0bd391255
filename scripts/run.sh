#!/usr/bin/env bash
# The main job: install, build the KB for the default target (NCT02193698 / PMID 32009091) and serve it.
# Without network the build falls back to the recorded responses shipped with trial-kb (kb build --offline), and says
# so in one line (with the first reason the live build gave). Offline, the live build fails within seconds: a name
# that does not resolve and a refused connection are not retried.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
if live=$(.venv/bin/kb build 2>&1); then
  printf '%s\n' "$live"
else
  reason=$(grep -m1 '^kb: ' <<<"$live" || true)
  echo "run.sh: the live build failed (${reason#kb: }); building from the recorded responses shipped in" \
       "kb/data/offline instead (kb build --offline)" >&2
  .venv/bin/kb build --offline
fi
exec .venv/bin/kb serve "$@"

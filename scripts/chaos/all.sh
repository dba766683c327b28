#!/usr/bin/env bash
# Every chaos scenario, R1 to R4, one after the other; prints each one's figure lines and a
# verdict. IMGCLOUD_CHAOS=full (default) or short (what scripts/test.sh runs). Exits non-zero if
# any scenario lost, duplicated or corrupted anything, or failed otherwise.
set -uo pipefail

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export IMGCLOUD_CHAOS=${IMGCLOUD_CHAOS:-full}
failed=()
for scenario in r1-sync-kills r2-faulty-network r3-replica-kill r4-outages; do
  printf '\n==> chaos %s (%s)\n' "$scenario" "$IMGCLOUD_CHAOS" >&2
  started=$SECONDS
  if ! "$dir/$scenario.sh"; then
    failed+=("$scenario")
  fi
  printf '    (%d s)\n' $((SECONDS - started)) >&2
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "chaos: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "chaos: R1-R4 passed: 0 lost, 0 duplicated, 0 corrupted"

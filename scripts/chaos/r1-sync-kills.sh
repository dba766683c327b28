#!/usr/bin/env bash
# R1: a watched folder of 1,000 files (50 of them repeats) synced while the daemon is `kill -9`ed
# 25 times at random moments of its work. 0 lost, 0 duplicated, every backup copy verifies.
# IMGCLOUD_CHAOS=short: 120 files, 6 kills. IMGCLOUD_CHAOS_SEED picks other moments.
exec "$(dirname "${BASH_SOURCE[0]}")/run-scenario.sh" chaos_sync

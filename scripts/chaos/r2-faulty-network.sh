#!/usr/bin/env bash
# R2: 500 files uploaded through fault-injecting HTTP proxies in front of the API and the object
# store, 20 % of requests failing (503, reset, 2 s stall, answer cut short or lost). Every
# upload completes, 0 corrupted, 0 lost, 0 duplicated; prints the faults and the retries.
# IMGCLOUD_CHAOS=short: 60 files.
exec "$(dirname "${BASH_SOURCE[0]}")/run-scenario.sh" chaos_faults

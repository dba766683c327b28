#!/usr/bin/env bash
# R4: the backing services go away.
# - memcached stopped under a read load through the balancer: every request still succeeds;
#   p99 before, while down and after;
# - PostgreSQL restarted: every replica serves again within 10 s, without a restart;
# - the object store down for 60 s (IMGCLOUD_CHAOS=short: 30 s) during a daemon sync: the queue
#   holds, then drains, 0 lost;
# - the daemon's backup disk full (a tmpfs; needs root): a clear error naming the folder,
#   nothing lost, the copies made once space returns.
exec "$(dirname "${BASH_SOURCE[0]}")/run-scenario.sh" stack_outages daemon_outage chaos_disk_full

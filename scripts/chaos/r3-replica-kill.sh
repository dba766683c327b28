#!/usr/bin/env bash
# R3: the production stack (scripts/stack.sh: PostgreSQL, memcached, the S3 store, two replicas,
# nginx); under the API benchmark's load (bench-api run list, 200 requests/s for 25 s), a client
# uploads 200 images and another lists all the time while replica-1 is killed with SIGKILL.
# 0 client-visible failures (client or benchmark), 0 lost, 0 duplicated. (Same size in both
# modes.)
exec "$(dirname "${BASH_SOURCE[0]}")/run-scenario.sh" stack_replica_kill

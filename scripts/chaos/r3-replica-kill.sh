#!/usr/bin/env bash
# R3: the production stack (scripts/stack.sh: PostgreSQL, memcached, the S3 store, two replicas,
# nginx); a client uploads 200 images and another lists all the time while replica-1 is killed
# with SIGKILL. 0 client-visible failures, 0 lost, 0 duplicated. (Same size in both modes.)
exec "$(dirname "${BASH_SOURCE[0]}")/run-scenario.sh" stack_replica_kill

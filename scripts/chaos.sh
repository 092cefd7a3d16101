#!/usr/bin/env bash
# The full chaos run (about 6 minutes, loopback only): an ingress and three processors under a
# steady HTTP load for 300 s, with a seeded schedule of faults (SIGKILLed processors and
# ingress, the broker SIGKILLed and down for 10 s, Redis restarted empty, PostgreSQL cut off),
# then the whole history checked against the domain oracle (tests/it/chaos.rs). It prints
#   accepted=N applied=N lost=0 double_applied=0 out_of_order=0 dlq_valid=0 (... longest_stall=...)
# and the longest stall after each kind of fault, and exits non-zero on any loss, double
# application, reordering or dead letter. The test suite runs the same test for 45 s.
#
#   scripts/chaos.sh [SECONDS]        ORDERFLOW_TEST_SEED=N repeats a run's schedule
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/orderflow/target}"
scripts/services.sh up
ORDERFLOW_CHAOS_SECS="${1:-300}" exec cargo test --locked --test it chaos:: -- --nocapture

#!/usr/bin/env bash
# The full webhook fault run (a few minutes, loopback only): 1 000 orders × 4 events to three
# endpoints — one healthy, one failing half its requests at random (500s and answers past the
# timeout), one refusing connections for the first 60 s — while the dispatcher is SIGKILLed
# twice; then every endpoint's log checked against the published events
# (tests/it/webhooks/faults.rs). It prints, per endpoint, requests, delivered events,
# duplicates and the p50/p99 delay, and fails on a lost event, a first delivery out of version
# order or a signature that does not verify. The suite runs the same test with 100 orders and
# 15 s down.
#
#   scripts/webhooks-fault.sh [ORDERS] [DOWN_SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/orderflow/target}"
scripts/services.sh up
ORDERFLOW_WEBHOOK_FAULT_ORDERS="${1:-1000}" ORDERFLOW_WEBHOOK_FAULT_DOWN_SECS="${2:-60}" \
  exec cargo test --locked --test it webhooks::faults:: -- --nocapture

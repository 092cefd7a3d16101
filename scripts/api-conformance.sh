#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document: schemathesis (pinned, in the validators' venv)
# runs every phase with every check but two against `orderflow all` (API-key auth, no rate
# limit) on the real services, and must find nothing. Uses the debug binary the test suite
# built. The two left out assume a write is done when it is answered, and writes here are
# asynchronous (202 Accepted: the command is queued, then applied by the processor):
# use_after_free (a PATCH right after an accepted DELETE is accepted too, then rejected
# `not_found`, as its command status shows) and ensure_resource_availability (a GET right
# after an accepted create may be a 404 for the few milliseconds until it is applied).
# scripts/conformance_hooks.py gives every well-formed Idempotency-Key a fresh suffix, and
# keeps generated creates to a total that is not negative (the one cross-field rule the
# document cannot state in JSON Schema). One worker: with two, hypothesis's lambda
# descriptions call ast.parse from two threads, and CPython 3.11.7 intermittently fails that
# ("AST constructor recursion depth mismatch") as a runtime error of the run.
# The Stripe webhook is left out: only a body signed with a storefront's endpoint secret is
# valid there, which a generator cannot make (tests/it/stripe.rs signs them).
# ORDERFLOW_CONFORMANCE_EXAMPLES (default 25) bounds the test cases per operation;
# ORDERFLOW_CONFORMANCE_SEED (default a fixed one) picks the run, `random` for a new one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/validators-venv.sh

bin=${CARGO_TARGET_DIR:-target}/debug/orderflow
[ -x "$bin" ] || cargo build --locked
run=conformance-$(date +%s)-$$
export ORDERFLOW_COMMANDS_TOPIC=$run.commands ORDERFLOW_EVENTS_TOPIC=$run.events \
  ORDERFLOW_STATE_TOPIC=$run.state ORDERFLOW_DLQ_TOPIC=$run.dlq ORDERFLOW_GROUP_ID=$run \
  ORDERFLOW_PARTITIONS=2 ORDERFLOW_WEBHOOKS_GROUP_ID=$run-webhooks
# Webhooks on (a fresh sealing key), so /v1/webhooks is exercised, not answered 404; the
# endpoints schemathesis creates are on generated hosts no delivery reaches.
ORDERFLOW_WEBHOOKS_SECRET_KEY=$("$bin" webhooks generate-key)
export ORDERFLOW_WEBHOOKS_SECRET_KEY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
metrics=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" migrate >/dev/null
"$bin" topics create >/dev/null
key=$("$bin" apikeys create --storefront "$run" | tail -n 1)

log=$(mktemp)
RUST_LOG=${RUST_LOG:-warn} "$bin" all --auth api-key --rate-limit 0 --http-addr "127.0.0.1:$port" \
  --metrics-addr "127.0.0.1:$metrics" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT

seed=${ORDERFLOW_CONFORMANCE_SEED:-20261202}
seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
echo "conformance: schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}') against 127.0.0.1:$port (seed $seed)"
if ! PYTHONPATH="$PWD/scripts" SCHEMATHESIS_HOOKS=conformance_hooks "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --wait-for-schema 30 \
  --exclude-path /v1/providers/stripe/webhook \
  --checks all --exclude-checks use_after_free,ensure_resource_availability --max-examples "${ORDERFLOW_CONFORMANCE_EXAMPLES:-25}" "${seed_args[@]}" \
  --workers 1 --no-color --generation-database none \
  -H "Authorization: Bearer $key"; then
  echo "conformance: FAILED; the server's log:" >&2
  tail -n 50 "$log" >&2
  exit 1
fi

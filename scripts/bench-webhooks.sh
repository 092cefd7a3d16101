#!/usr/bin/env bash
# Webhook dispatcher throughput on this machine, in one run, against one local receiver that
# answers 204 at once (`orderflow loadgen webhook-receiver`, which counts requests and times
# the first to the last):
#   (a) `orderflow webhooks` delivering every event the processor published for N preloaded
#       commands (the benchmark's usual mix) to one endpoint, C attempts in flight
#       (--webhooks-max-in-flight): fan-out, claims, signing, POSTs and the recorded attempts;
#   (b) the ceiling: the dispatcher's own HTTP client posting one pre-signed body of the same
#       size to the same receiver in a loop, C at once (`orderflow loadgen webhook-ceiling`).
# Last line is machine-readable: webhooks_per_s=<a> ceiling_per_s=<b> webhooks_vs_ceiling=<a/b>
#
#   scripts/bench-webhooks.sh           # N=20000 C=64
#   N=5000 C=16 scripts/bench-webhooks.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-20000}
C=${C:-64}
run="benchwh_$(date +%s)"
db="postgres://orderflow:orderflow@127.0.0.1:5432/$run"
sql() { PGPASSWORD=orderflow psql -h 127.0.0.1 -U orderflow -d "$1" -tAq -c "$2"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

scripts/services.sh up >/dev/null
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/orderflow
export RUST_LOG=${RUST_LOG:-warn,librdkafka=error}
export ORDERFLOW_DATABASE_URL=$db ORDERFLOW_COMMANDS_TOPIC=$run.commands \
  ORDERFLOW_EVENTS_TOPIC=$run.events ORDERFLOW_STATE_TOPIC=$run.state ORDERFLOW_DLQ_TOPIC=$run.dlq \
  ORDERFLOW_WEBHOOKS_ALLOW_PRIVATE=true
ORDERFLOW_WEBHOOKS_SECRET_KEY=$("$bin" webhooks generate-key)
export ORDERFLOW_WEBHOOKS_SECRET_KEY

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for _ in 1 2 3 4 5; do
    sql orderflow "DROP DATABASE IF EXISTS $run WITH (FORCE)" 2>/dev/null && break
    sleep 1
  done
}
trap cleanup EXIT
sql orderflow "CREATE DATABASE $run"
"$bin" migrate >/dev/null
"$bin" topics create --partitions 12 >/dev/null

# The events: N commands through the processor, which is stopped once it consumed them all.
"$bin" loadgen preload --commands "$N" >/dev/null
"$bin" processor --group-id "$run-processor" --metrics-addr 127.0.0.1:0 >/dev/null 2>"/tmp/$run.processor.log" &
processor=$!
pids+=("$processor")
until [ "$(sql "$run" "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")" -ge "$N" ]; do
  kill -0 "$processor" || { echo "the processor stopped; see /tmp/$run.processor.log" >&2; exit 1; }
  sleep 0.2
done
until [ "$(sql "$run" "SELECT count(*) FROM order_events WHERE published_at IS NULL")" -eq 0 ]; do sleep 0.2; done
kill "$processor"; wait "$processor" 2>/dev/null || true
events=$(sql "$run" "SELECT count(*) FROM order_events")
echo "$N commands made $events events"

# (a) the dispatcher.
receiver_port=$(port)
"$bin" webhooks endpoints create --storefront default --url "http://127.0.0.1:$receiver_port/hook" >/dev/null 2>&1
"$bin" loadgen webhook-receiver --http-addr "127.0.0.1:$receiver_port" --expect "$events" >"/tmp/$run.a.out" &
receiver=$!
pids+=("$receiver")
sleep 0.5
"$bin" webhooks --webhooks-group-id "$run-webhooks" --webhooks-max-in-flight "$C" \
  --metrics-addr 127.0.0.1:0 >/dev/null 2>"/tmp/$run.webhooks.log" &
dispatcher=$!
pids+=("$dispatcher")
wait "$receiver"
kill "$dispatcher"; wait "$dispatcher" 2>/dev/null || true
a=$(sed -n 's/.*received_per_s=\([0-9]*\).*/\1/p' "/tmp/$run.a.out")
bytes=$(sed -n 's/.*avg_body_bytes=\([0-9]*\).*/\1/p' "/tmp/$run.a.out")
attempts=$(sql "$run" "SELECT count(*) FROM webhook_attempts")
echo "(a) orderflow webhooks: $a deliveries/s ($events deliveries, $attempts attempts, ${bytes} B bodies, $C in flight)"

# (b) the ceiling, to a fresh receiver.
receiver_port=$(port)
"$bin" loadgen webhook-receiver --http-addr "127.0.0.1:$receiver_port" --expect "$events" >"/tmp/$run.b.out" &
receiver=$!
pids+=("$receiver")
sleep 0.5
"$bin" loadgen webhook-ceiling --url "http://127.0.0.1:$receiver_port/hook" --requests "$events" \
  --concurrency "$C" --body-bytes "$bytes" >/dev/null
wait "$receiver"
b=$(sed -n 's/.*received_per_s=\([0-9]*\).*/\1/p' "/tmp/$run.b.out")
echo "(b) ceiling:            $b requests/s (the same client, one pre-signed body, $C at once)"

python3 - "$a" "$b" <<'PY'
import sys
a, b = map(float, sys.argv[1:])
print(f"a/b = {a / b:.2f}  (target >= 0.6)")
print(f"webhooks_per_s={a:.0f} ceiling_per_s={b:.0f} webhooks_vs_ceiling={a / b:.2f}")
PY

#!/usr/bin/env bash
# How long a customer waits for a command under load, on this machine, in one run:
# `orderflow all` and `orderflow loadgen latency` sending orders' lives (create, update,
# confirm, ship, re-track, deliver; some cancelled or deleted) over HTTP.
#   1. the maximum: a closed loop of CONNECTIONS clients for SECONDS_EACH; max_rate = commands
#      handled per second while it ran (by the commands' own handled_at stamps)
#   2. an open loop (a fixed arrival rate, whatever the answers) at 25 %, 50 % and 80 % of it
# For every accepted command the latency runs from when it was due to be sent to its
# handled_at in GET /v1/commands/{id}. Each phase gets fresh topics and a fresh database.
# Last line is machine-readable.
#
#   scripts/bench-latency.sh                  # 15 s per phase, 64 clients for the maximum
#   SECONDS_EACH=8 scripts/bench-latency.sh
#   PARTITIONS=3 scripts/bench-latency.sh      # the commands topic's partitions (default 12)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${SECONDS_EACH:-15}
connections=${CONNECTIONS:-64}
partitions=${PARTITIONS:-12}
run="lat_$(date +%s)"
export RUST_LOG=${RUST_LOG:-error}
sql() { PGPASSWORD=orderflow psql -h 127.0.0.1 -U orderflow -d "$1" -tAq -c "$2"; }
wait_http() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

scripts/services.sh up >/dev/null
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/orderflow

pid=
phases=()
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true
  for p in "${phases[@]}"; do sql orderflow "DROP DATABASE IF EXISTS ${run}_$p WITH (FORCE)" 2>/dev/null || true; done
}
trap cleanup EXIT

# phase NAME RATE: orderflow all on fresh resources, one loadgen run; prints its line
phase() {
  local name=$1 rate=$2 db="postgres://orderflow:orderflow@127.0.0.1:5432/${run}_$1"
  phases+=("$name")
  sql orderflow "CREATE DATABASE ${run}_$name"
  "$bin" migrate --database-url "$db" >/dev/null
  local topics="--commands-topic $run.$name.commands --events-topic $run.$name.events --state-topic $run.$name.state --dlq-topic $run.$name.dlq"
  # shellcheck disable=SC2086
  "$bin" topics create --partitions "$partitions" $topics >/dev/null
  # shellcheck disable=SC2086
  "$bin" all --auth none --rate-limit 0 --http-addr 127.0.0.1:3300 --metrics-addr 127.0.0.1:0 \
    --group-id "$run.$name" --database-url "$db" $topics >&2 &
  pid=$!
  wait_http http://127.0.0.1:3300/readyz
  "$bin" loadgen latency --url http://127.0.0.1:3300 --rate "$rate" --connections "$connections" \
    --duration "${duration}s"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "maximum: a closed loop of $connections clients, ${duration}s ..." >&2
max_line=$(phase max 0)
max=$(field handled_per_s "$max_line")
lines=("$max_line")
for pct in 25 50 80; do
  rate=$((max * pct / 100))
  echo "open loop at ${pct}% of $max = $rate commands/s, ${duration}s ..." >&2
  lines+=("$(phase "p$pct" "$rate")")
done

python3 - "$max" "${lines[@]}" <<'PY'
import sys
max_rate, lines = int(sys.argv[1]), sys.argv[2:]
rows = [dict(kv.split("=", 1) for kv in line.split()) for line in lines]
print(f"{'load':28} {'sent/s':>7} {'handled/s':>9} {'POST p50':>8} {'POST p99':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'rejected':>8} {'pending':>7}")
for label, r in zip(["max (closed loop)", "25 % (open loop)", "50 % (open loop)", "80 % (open loop)"], rows):
    print(f"{label:28} {float(r['accepted_per_s']):7.0f} {float(r['handled_per_s']):9.0f} {float(r['post_p50_ms']):8.1f} {float(r['post_p99_ms']):8.1f} "
          f"{float(r['p50_ms']):7.1f} {float(r['p99_ms']):7.1f} {float(r['p999_ms']):8.1f} {r['rejected']:>8} {r['pending']:>7}")
print("(latency: from when a command was due to its handled_at; rejected: the mix's commands after a "
      "cancel or a delete, and follow-ups whose predecessor was not applied 250 ms after it was accepted; "
      "the mix's invalid updates are refused 422 by the ingress and not counted)")
p50, p80 = float(rows[2]["p99_ms"]), float(rows[3]["p99_ms"])
print(f"p99_ms_at_50pct={p50:.1f} (target <= 50)")
print(f"p99_ms_at_50pct={p50:.1f} p99_ms_at_80pct={p80:.1f} max_rate={max_rate}")
PY

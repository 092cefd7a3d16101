#!/usr/bin/env bash
# The whole pipeline under HTTP load on this machine, in one run, with wrk (Debian), creates only:
#   (a) POST-only: `orderflow ingress` alone (nothing consumes), POST /v1/orders
#   (b) end to end: `orderflow all` (ingress and processor in one process), the same load;
#       orders applied per second while the load runs, by the processor's own stamps
#       (processed_commands.processed_at within the load's window), and how long the
#       backlog took to drain after it
# Each mode gets a fresh database and topics. Last line is machine-readable.
#
#   scripts/bench-e2e.sh                      # 20 s per mode, 2 threads x 32 connections
#   SECONDS_EACH=10 CONNECTIONS=64 scripts/bench-e2e.sh
#   PARTITIONS=3 scripts/bench-e2e.sh          # the topics' partitions (default 12)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/wrk-lib.sh
. scripts/wrk-lib.sh

duration=${SECONDS_EACH:-20}
connections=${CONNECTIONS:-32}
partitions=${PARTITIONS:-12}
run="e2e_$(date +%s)"
export RUST_LOG=${RUST_LOG:-error}
sql() { PGPASSWORD=orderflow psql -h 127.0.0.1 -U orderflow -d "$1" -tAq -c "$2"; }

scripts/services.sh up >/dev/null
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/orderflow

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for mode in a b; do sql orderflow "DROP DATABASE IF EXISTS ${run}_$mode WITH (FORCE)" 2>/dev/null || true; done
  rm -f "/tmp/$run.lua"
}
trap cleanup EXIT

write_post_lua "/tmp/$run.lua"

setup() { # mode -> flags on stdout
  local db="postgres://orderflow:orderflow@127.0.0.1:5432/${run}_$1"
  sql orderflow "CREATE DATABASE ${run}_$1"
  "$bin" migrate --database-url "$db" >/dev/null
  local topics="--commands-topic $run.$1.commands --events-topic $run.$1.events --state-topic $run.$1.state --dlq-topic $run.$1.dlq"
  # shellcheck disable=SC2086
  "$bin" topics create --partitions "$partitions" $topics >/dev/null
  echo "--database-url $db $topics"
}

# load URL: wrk for $duration s; prints "rps p50_ms p99_ms requests"
load() { wrk_run "$connections" "$duration" "$1" -s "/tmp/$run.lua"; }

echo "(a) POST-only: orderflow ingress, ${duration}s of wrk -c$connections ..." >&2
flags=$(setup a) || exit 1
# shellcheck disable=SC2086
"$bin" ingress --auth none --rate-limit 0 --http-addr 127.0.0.1:3200 --metrics-addr 127.0.0.1:0 $flags &
pids+=($!); wait_http http://127.0.0.1:3200/readyz
read -r a_rps a_p50 a_p99 _ < <(load http://127.0.0.1:3200/v1/orders)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "(b) end to end: orderflow all, the same load ..." >&2
flags=$(setup b) || exit 1
# shellcheck disable=SC2086
"$bin" all --auth none --rate-limit 0 --http-addr 127.0.0.1:3201 --metrics-addr 127.0.0.1:9465 --group-id "$run" $flags &
pids+=($!); wait_http http://127.0.0.1:3201/readyz
t0=$(sql orderflow "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
read -r b_rps b_p50 b_p99 accepted < <(load http://127.0.0.1:3201/v1/orders)
t1=$(sql orderflow "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
db_b="${run}_b"
in_window=$(sql "$db_b" "SELECT count(*) FROM processed_commands WHERE processed_at >= '$t0+00' AND processed_at < '$t1+00'")
window=$(sql orderflow "SELECT extract(epoch FROM '$t1'::timestamp - '$t0'::timestamp)")
drain_start=$(date +%s.%N)
for _ in $(seq 1 600); do
  [ "$(sql "$db_b" "SELECT count(*) FROM processed_commands")" -ge "$accepted" ] && break
  sleep 0.1
done
drain=$(python3 -c "print(f'{$(date +%s.%N) - $drain_start:.1f}')")
applied=$(sql "$db_b" "SELECT count(*) FROM processed_commands")
curl -s http://127.0.0.1:9465/metrics | grep -E '^orderflow_batch_stage_duration_seconds_(sum|count)' > "/tmp/$run.stages" || true

python3 - "$a_rps" "$a_p50" "$a_p99" "$b_rps" "$b_p50" "$b_p99" "$in_window" "$window" "$accepted" "$applied" "$drain" "/tmp/$run.stages" <<'PY'
import re, sys
a_rps, a_p50, a_p99, b_rps, b_p50, b_p99, in_window, window = map(float, sys.argv[1:9])
accepted, applied, drain, stages = int(sys.argv[9]), int(sys.argv[10]), sys.argv[11], sys.argv[12]
e2e = in_window / window
print(f"{'':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
print(f"{'(a) POST-only (ingress alone)':34} {a_rps:8.0f} {a_p50:8.2f} {a_p99:8.2f}")
print(f"{'(b) POST with the processor':34} {b_rps:8.0f} {b_p50:8.2f} {b_p99:8.2f}")
print(f"(b) orders applied while loaded:   {e2e:8.0f}/s ({in_window:.0f} in {window:.1f} s); "
      f"{accepted} accepted, {applied} applied, backlog drained {drain} s after the load")
sums, counts = {}, {}
for line in open(stages):
    m = re.match(r'orderflow_batch_stage_duration_seconds_(sum|count)\{stage="(\w+)"\} (\S+)', line)
    if m:
        (sums if m.group(1) == "sum" else counts)[m.group(2)] = float(m.group(3))
if counts:
    print("processor stages (mean ms per batch): " + ", ".join(
        f"{k} {1000 * sums[k] / counts[k]:.1f} ({counts[k]:.0f}x)" for k in sorted(counts) if counts[k]))
print(f"e2e_vs_post_only={e2e / a_rps:.2f} (target >= 0.8)")
print(f"e2e_vs_post_only={e2e / a_rps:.2f} e2e_orders_per_s={e2e:.0f} post_p99_ms={b_p99:.2f}")
PY

#!/usr/bin/env bash
# Ingress throughput and latency on this machine, in one run, with wrk (Debian):
#   POST /v1/orders            vs the I/O ceiling: a bare handler producing one pre-encoded
#                                 record of the same size, same producer settings, ack awaited
#   cached GET /v1/orders/{id} vs the HTTP ceiling: a bare handler answering at once
#                                 (also shown: the same GET reading Redis every time)
# The ingress runs alone (no processor competing for the CPU), without auth or rate limit.
# Last line is machine-readable.
#
#   scripts/bench-ingress.sh                  # 10 s per measurement, 32 connections
#   SECONDS_EACH=5 CONNECTIONS=64 scripts/bench-ingress.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/wrk-lib.sh
. scripts/wrk-lib.sh

duration=${SECONDS_EACH:-10}
connections=${CONNECTIONS:-32}
run="ibench_$(date +%s)"
db="postgres://orderflow:orderflow@127.0.0.1:5432/$run"
flags=(--commands-topic "$run.commands" --events-topic "$run.events" --state-topic "$run.state" --dlq-topic "$run.dlq")
export RUST_LOG=${RUST_LOG:-error}

scripts/services.sh up >/dev/null
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/orderflow
PGPASSWORD=orderflow psql -h 127.0.0.1 -U orderflow -d orderflow -qc "CREATE DATABASE $run"
"$bin" migrate --database-url "$db"
"$bin" topics create --partitions 12 "${flags[@]}" >/dev/null

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -f "/tmp/$run.lua" "/tmp/$run.results"; }
trap cleanup EXIT

body=$order_body
write_post_lua "/tmp/$run.lua"

# One order in the cache for the GET measurement: applied by a processor, then it stops.
"$bin" all --auth none --rate-limit 0 --http-addr 127.0.0.1:3100 --metrics-addr 127.0.0.1:0 --database-url "$db" --group-id "$run" "${flags[@]}" &
pids+=($!); wait_http http://127.0.0.1:3100/readyz
order=$(curl -s -X POST http://127.0.0.1:3100/v1/orders -H 'content-type: application/json' -d "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["order_id"])')
for _ in $(seq 1 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:3100/v1/orders/$order")" = 200 ] && break; sleep 0.1; done
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

"$bin" ingress --auth none --rate-limit 0 --http-addr 127.0.0.1:3100 --metrics-addr 127.0.0.1:0 --database-url "$db" "${flags[@]}" &
pids+=($!)
# The same ingress reading Redis on every GET (no in-process copy), for comparison.
"$bin" ingress --auth none --rate-limit 0 --local-cache-entries 0 --http-addr 127.0.0.1:3103 --metrics-addr 127.0.0.1:0 --database-url "$db" "${flags[@]}" &
pids+=($!)
"$bin" loadgen http-ceiling --http-addr 127.0.0.1:3101 &
pids+=($!)
"$bin" loadgen produce-ceiling --http-addr 127.0.0.1:3102 "${flags[@]}" &
pids+=($!)
wait_http http://127.0.0.1:3100/readyz; wait_http http://127.0.0.1:3103/readyz; wait_http http://127.0.0.1:3101/v1/orders/x

# measure NAME URL [wrk args]: prints "NAME rps p50_ms p99_ms"
measure() {
  local name=$1 url=$2 result; shift 2
  result=$(wrk_run "$connections" "$duration" "$url" "$@") || { echo "$name: $result" >&2; exit 1; }
  echo "$name ${result% *}"
}

results=/tmp/$run.results
{
  measure post "http://127.0.0.1:3100/v1/orders" -s "/tmp/$run.lua"
  measure io_ceiling "http://127.0.0.1:3102/v1/orders" -s "/tmp/$run.lua"
  measure get "http://127.0.0.1:3100/v1/orders/$order"
  measure get_redis "http://127.0.0.1:3103/v1/orders/$order"
  measure http_ceiling "http://127.0.0.1:3101/v1/orders/$order"
} > "$results"
python3 - "$results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99 = line.split()
    rows[name] = (float(rps), float(p50), float(p99))
print(f"{'':22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
labels = [("post", "POST /v1/orders"), ("io_ceiling", "I/O ceiling (produce)"),
          ("get", "cached GET"), ("get_redis", "  same, Redis each time"),
          ("http_ceiling", "HTTP ceiling")]
for name, label in labels:
    rps, p50, p99 = rows[name]
    print(f"{label:22} {rps:9.0f} {p50:8.2f} {p99:8.2f}")
post_vs = rows["post"][0] / rows["io_ceiling"][0]
get_vs = rows["get"][0] / rows["http_ceiling"][0]
print(f"POST / I/O ceiling = {post_vs:.2f} (target >= 0.6); cached GET / HTTP ceiling = {get_vs:.2f} (target >= 0.5)")
print(f"without the in-process copy (--local-cache-entries 0): {rows['get_redis'][0] / rows['http_ceiling'][0]:.2f}")
print(f"post_vs_io_ceiling={post_vs:.2f} get_vs_http_ceiling={get_vs:.2f} post_p99_ms={rows['post'][2]:.2f}")
PY

#!/usr/bin/env bash
# Memory soak: one release `orderflow processor` under a steady load of commands for unique
# orders (a new order every ~8 commands, none ever seen again) for SECONDS, its resident set
# sampled every 10 s. The order memory is bounded by `--order-memory-mb` (default 64), so RSS
# must level off: the script prints the samples, then
#   rss_mib_first_quarter_max=… rss_mib_last_quarter_max=… rss_mib_max=… orders=… plateau=yes|no
# and exits non-zero if RSS still grows (last quarter's peak more than 10 % above the second
# quarter's) or passes LIMIT_MIB.
#
#   scripts/soak.sh                       # 600 s at 2000 commands/s
#   SECONDS_TOTAL=120 RATE=3000 scripts/soak.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${SECONDS_TOTAL:-600}
rate=${RATE:-2000}
limit_mib=${LIMIT_MIB:-200}
run="soak_$(date +%s)"
db_url="postgres://orderflow:orderflow@127.0.0.1:5432/$run"
sql() { PGPASSWORD=orderflow psql -h 127.0.0.1 -U orderflow -d "$1" -tAq -c "$2"; }

scripts/services.sh up >/dev/null
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/orderflow
export RUST_LOG=${RUST_LOG:-warn,librdkafka=error}
topics="--commands-topic $run.commands --events-topic $run.events --state-topic $run.state --dlq-topic $run.dlq"

cleanup() {
  kill "${processor:-}" "${loader:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  for _ in 1 2 3 4 5; do
    sql orderflow "DROP DATABASE IF EXISTS $run" 2>/dev/null && break
    sleep 1
  done
}
trap cleanup EXIT

sql orderflow "CREATE DATABASE $run"
"$bin" migrate --database-url "$db_url"
# shellcheck disable=SC2086
"$bin" topics create --partitions 12 $topics >/dev/null
# shellcheck disable=SC2086
"$bin" processor --group-id "$run" --database-url "$db_url" $topics --metrics-addr 127.0.0.1:0 \
  2>"/tmp/$run.processor.log" &
processor=$!
"$bin" loadgen preload --commands $((duration * rate)) --rate "$rate" --commands-topic "$run.commands" \
  2>"/tmp/$run.loadgen.log" &
loader=$!

samples=()
echo "time_s rss_mib orders"
for ((t = 10; t <= duration; t += 10)); do
  sleep 10
  kill -0 "$processor" 2>/dev/null || { echo "the processor exited; see /tmp/$run.processor.log" >&2; exit 1; }
  rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$processor/status")
  orders=$(sql "$run" "SELECT count(*) FROM orders")
  samples+=("$rss_kib")
  echo "$t $((rss_kib / 1024)) $orders"
done

python3 - "$limit_mib" "$orders" "${samples[@]}" <<'PY'
import sys
limit, orders, *kib = sys.argv[1:]
mib = [int(k) / 1024 for k in kib]
q = max(1, len(mib) // 4)
first, second, last = max(mib[:q]), max(mib[q:2 * q]), max(mib[-q:])
plateau = last <= second * 1.10 and max(mib) < float(limit)
print(f"rss_mib_first_quarter_max={first:.0f} rss_mib_last_quarter_max={last:.0f} "
      f"rss_mib_max={max(mib):.0f} orders={orders} plateau={'yes' if plateau else 'no'}")
sys.exit(0 if plateau else 1)
PY
